package report

import (
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
		t.Logf("%-32s %s on %s: %5.2f:1 (needs %.1f:1)", p.name, p.fg, p.bg, ratio, p.minimum)
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
