package report

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestContrastRatiosAreComputedAsWCAGDefinesThem(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#777777", "#ffffff", 4.48}, // the classic grey that just fails AA
		{"#767676", "#ffffff", 4.54}, // and the one that just passes
	} {
		got, err := contrastRatio(c.a, c.b)
		require.NoError(t, err)
		assert.InDelta(t, c.want, got, 0.01, "%s on %s", c.a, c.b)
	}
	_, err := contrastRatio("red", "#ffffff")
	assert.Error(t, err)
}

func TestEveryColourPairPassesWCAGAA(t *testing.T) {
	for _, p := range colourPairs {
		ratio, err := contrastRatio(p.fg, p.bg)
		require.NoError(t, err, p.name)
		t.Logf("%-40s %s on %s: %5.2f:1 (needs %.1f:1)", p.name, p.fg, p.bg, ratio, p.minimum)
		assert.GreaterOrEqual(t, ratio, p.minimum, "%s: %s on %s", p.name, p.fg, p.bg)
	}
	// Every colour the style sheet sets text in is checked against the
	// panel and the page.
	for _, text := range []string{colInk, colMuted, colBad, colGood, colAccent} {
		ratio, err := contrastRatio(text, colPaper)
		require.NoError(t, err)
		assert.GreaterOrEqual(t, ratio, minTextContrast, text)
	}
}

var (
	cssRuleRE   = regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`)
	cssColourRE = regexp.MustCompile(`(?:^|;)(fill|stroke|background):(#[0-9a-f]{6}|none)`)
)

// cssRules returns the rules of a part of the style sheet: selector and
// declarations.
func cssRules(css string) [][2]string {
	var out [][2]string
	for _, m := range cssRuleRE.FindAllStringSubmatch(css, -1) {
		out = append(out, [2]string{strings.TrimSpace(m[1]), m[2]})
	}
	return out
}

// declared returns the colour rule selector sets for property, or "".
func declared(rules [][2]string, selector, property string) string {
	got := ""
	for _, r := range rules {
		for _, sel := range strings.Split(r[0], ",") {
			if strings.TrimSpace(sel) != selector {
				continue
			}
			for _, m := range cssColourRE.FindAllStringSubmatch(r[1], -1) {
				if m[1] == property {
					got = m[2]
				}
			}
		}
	}
	return got
}

// TestEveryChartColourIsCheckedOnTheBackgroundItIsDrawnOn reads from the
// style sheet what the charts are drawn on — a figure's background on
// screen, the page when a figure has none, in print — and each colour the
// charts draw with, and checks that colourPairs holds each of them on
// each of those backgrounds, with the contrast it needs.
func TestEveryChartColourIsCheckedOnTheBackgroundItIsDrawnOn(t *testing.T) {
	screenCSS, printCSS, ok := strings.Cut(stylesheet, "@media print{")
	require.True(t, ok, "the style sheet has print rules")
	screen, print := cssRules(screenCSS), cssRules(printCSS)
	page := declared(screen, "body", "background")
	require.NotEmpty(t, page)
	backgrounds := map[string]string{"on screen": declared(screen, "figure", "background")}
	switch b := declared(print, "figure", "background"); b {
	case "":
		backgrounds["in print"] = backgrounds["on screen"]
	case "none":
		backgrounds["in print"] = page
	default:
		backgrounds["in print"] = b
	}
	require.NotEmpty(t, backgrounds["on screen"], "a figure has a background")
	t.Logf("charts are drawn on %v", backgrounds)

	checked := 0
	for _, r := range screen {
		if !strings.HasPrefix(r[0], "svg ") || strings.Contains(r[0], ".grid") {
			continue // not a chart's, or gridlines: decorative
		}
		minimum := float64(minGraphicContrast)
		if strings.Contains(r[0], "text") {
			minimum = minTextContrast
		}
		for _, m := range cssColourRE.FindAllStringSubmatch(r[1], -1) {
			fg := m[2]
			if fg == "none" || m[1] == "background" {
				continue
			}
			for where, bg := range backgrounds {
				i := slices.IndexFunc(colourPairs, func(p colourPair) bool { return p.fg == fg && p.bg == bg })
				if !assert.GreaterOrEqual(t, i, 0, "%s{%s:%s} %s on %s: not in colourPairs", r[0], m[1], fg, where, bg) {
					continue
				}
				p := colourPairs[i]
				assert.GreaterOrEqual(t, p.minimum, minimum, "%s: needs %.1f:1", p.name, minimum)
				ratio, err := contrastRatio(fg, bg)
				require.NoError(t, err)
				assert.GreaterOrEqual(t, ratio, minimum, "%s{%s:%s} %s on %s", r[0], m[1], fg, where, bg)
				checked++
			}
		}
	}
	assert.Positive(t, checked)
}
