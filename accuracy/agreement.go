package accuracy

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// CohenKappa returns Cohen's kappa of two raters' pass/fail labels of the
// same items — a judge's and a human's, say: (po − pe) / (1 − pe), where po
// is the observed agreement and pe the agreement expected by chance from
// each rater's pass rate. 1 is perfect agreement, 0 chance-level, below 0
// worse than chance.
//
// It fails when the slices differ in length or are empty, and with
// [ErrUndefined] when pe is 1 (both raters gave every item the same label),
// where kappa has no value.
func CohenKappa(a, b []bool) (float64, error) {
	if len(a) != len(b) {
		return 0, fmt.Errorf("accuracy: CohenKappa: %d labels against %d", len(a), len(b))
	}
	if len(a) == 0 {
		return 0, fmt.Errorf("accuracy: CohenKappa: no labels: %w", ErrUndefined)
	}
	var agree, aYes, bYes float64
	for i := range a {
		if a[i] == b[i] {
			agree++
		}
		if a[i] {
			aYes++
		}
		if b[i] {
			bYes++
		}
	}
	n := float64(len(a))
	po := agree / n
	pe := (aYes/n)*(bYes/n) + (1-aYes/n)*(1-bYes/n)
	if pe >= 1 {
		return 0, fmt.Errorf("accuracy: CohenKappa: both raters gave every item the same label: %w", ErrUndefined)
	}
	return (po - pe) / (1 - pe), nil
}

// Spearman returns Spearman's rank correlation of x and y — a judge's
// scores and human scores of the same items, say: the Pearson correlation
// of their ranks, tied values sharing the mean of their ranks.
//
// It fails when the slices differ in length, hold fewer than two values or
// a NaN, and with [ErrUndefined] when either series is constant.
func Spearman(x, y []float64) (float64, error) {
	if len(x) != len(y) {
		return 0, fmt.Errorf("accuracy: Spearman: %d values against %d", len(x), len(y))
	}
	if len(x) < 2 {
		return 0, fmt.Errorf("accuracy: Spearman: %d value(s), at least 2 needed: %w", len(x), ErrUndefined)
	}
	for i := range x {
		if math.IsNaN(x[i]) || math.IsNaN(y[i]) {
			return 0, fmt.Errorf("accuracy: Spearman: NaN at index %d", i)
		}
	}
	rx, ry := ranks(x), ranks(y)
	r, ok := pearson(rx, ry)
	if !ok {
		return 0, fmt.Errorf("accuracy: Spearman: a constant series has no rank correlation: %w", ErrUndefined)
	}
	return r, nil
}

// ranks returns the fractional ranks of v, from 1; ties share the mean of
// the ranks they span.
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	out := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		mean := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			out[idx[k]] = mean
		}
		i = j + 1
	}
	return out
}

func pearson(x, y []float64) (float64, bool) {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0, false
	}
	return sxy / math.Sqrt(sxx*syy), true
}

// ErrUndefined reports a statistic that the data do not define, such as a
// correlation of a constant series.
var ErrUndefined = errors.New("accuracy: statistic undefined for these data")
