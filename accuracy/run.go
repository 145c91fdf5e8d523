package accuracy

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/debrief-go/debrief/extract"
)

// A FieldAccuracy is one field's accuracy over many items.
type FieldAccuracy struct {
	// Key is the field's key.
	Key string `json:"key"`
	// Compared counts the items in which the field was compared.
	Compared int `json:"compared"`
	// Matched counts the items in which it matched.
	Matched int `json:"matched"`
	// Accuracy is Matched / Compared, or nil when it was never compared.
	Accuracy *float64 `json:"accuracy"`
}

// PerField returns each field's accuracy over results, one entry per key
// compared in at least one item, sorted by key.
func PerField(results []Result) []FieldAccuracy {
	byKey := map[string]*FieldAccuracy{}
	for _, r := range results {
		for key, fr := range r.PerField {
			fa, ok := byKey[key]
			if !ok {
				fa = &FieldAccuracy{Key: key}
				byKey[key] = fa
			}
			fa.Compared++
			if fr.Match {
				fa.Matched++
			}
		}
	}
	out := make([]FieldAccuracy, 0, len(byKey))
	for _, fa := range byKey {
		acc := float64(fa.Matched) / float64(fa.Compared)
		fa.Accuracy = &acc
		out = append(out, *fa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Labels of a [Confusion] for values that are not enum values.
const (
	// NullLabel stands for a null value.
	NullLabel = "(null)"
	// OtherLabel stands for a value outside the field's enum values, which
	// results computed with another field set may hold.
	OtherLabel = "(other)"
)

// A Confusion is the confusion matrix of one enum field over many items:
// how often each expected value was extracted as each value.
type Confusion struct {
	// Field is the field's key.
	Field string `json:"field"`
	// Labels are the field's enum values, then [NullLabel], then
	// [OtherLabel] if any value needed it.
	Labels []string `json:"labels"`
	// Counts[i][j] counts the items whose expected value is Labels[i] and
	// whose extracted value is Labels[j].
	Counts [][]int `json:"counts"`
	// Total counts the items in the matrix.
	Total int `json:"total"`
}

// NewConfusion builds the confusion matrix of field f over results, from
// the items in which f was compared. It fails if f is not an enum field.
func NewConfusion(f extract.Field, results []Result) (*Confusion, error) {
	if f.Type != extract.Enum || len(f.EnumValues) == 0 {
		return nil, fmt.Errorf("accuracy: confusion matrix of %q: not an enum field with values", f.Key)
	}
	c := &Confusion{Field: f.Key, Labels: append(append([]string(nil), f.EnumValues...), NullLabel)}
	// Rows are found by position, not by label, so that an enum value
	// spelled like NullLabel or OtherLabel keeps its own row.
	index := map[string]int{}
	for i, v := range f.EnumValues {
		if _, dup := index[v]; !dup {
			index[v] = i
		}
	}
	nullRow, otherRow := len(f.EnumValues), -1
	label := func(v any) int {
		if v == nil {
			return nullRow
		}
		if s, ok := v.(string); ok {
			if i, ok := index[s]; ok {
				return i
			}
		}
		if otherRow < 0 {
			otherRow = len(c.Labels)
			c.Labels = append(c.Labels, OtherLabel)
		}
		return otherRow
	}
	type cell struct{ i, j int }
	var cells []cell
	for _, r := range results {
		fr, ok := r.PerField[f.Key]
		if !ok {
			continue
		}
		cells = append(cells, cell{label(fr.Expected), label(fr.Actual)})
	}
	c.Counts = make([][]int, len(c.Labels))
	for i := range c.Counts {
		c.Counts[i] = make([]int, len(c.Labels))
	}
	for _, x := range cells {
		c.Counts[x.i][x.j]++
	}
	c.Total = len(cells)
	return c, nil
}

// Count returns how many items expected the label expected and got actual
// (the first row or column of that label, should an enum value be spelled
// like [NullLabel] or [OtherLabel]).
func (c *Confusion) Count(expected, actual string) int {
	i, j := c.indexOf(expected), c.indexOf(actual)
	if i < 0 || j < 0 {
		return 0
	}
	return c.Counts[i][j]
}

func (c *Confusion) indexOf(label string) int {
	for i, l := range c.Labels {
		if l == label {
			return i
		}
	}
	return -1
}

// Accuracy returns the share of items on the diagonal, or nil when the
// matrix is empty.
func (c *Confusion) Accuracy() *float64 {
	if c.Total == 0 {
		return nil
	}
	diag := 0
	for i := range c.Labels {
		diag += c.Counts[i][i]
	}
	a := float64(diag) / float64(c.Total)
	return &a
}

// Precision returns, of the items extracted as label, the share that
// expected it; nil when none was extracted as label.
func (c *Confusion) Precision(label string) *float64 {
	j := c.indexOf(label)
	if j < 0 {
		return nil
	}
	col := 0
	for i := range c.Labels {
		col += c.Counts[i][j]
	}
	return ratio(c.Counts[j][j], col)
}

// Recall returns, of the items that expected label, the share extracted as
// label; nil when no item expected it.
func (c *Confusion) Recall(label string) *float64 {
	i := c.indexOf(label)
	if i < 0 {
		return nil
	}
	row := 0
	for j := range c.Labels {
		row += c.Counts[i][j]
	}
	return ratio(c.Counts[i][i], row)
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// String renders the matrix as a table, expected values down, extracted
// values across.
func (c *Confusion) String() string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "expected \\ actual\t%s\n", strings.Join(c.Labels, "\t"))
	for i, l := range c.Labels {
		fmt.Fprint(w, l)
		for j := range c.Labels {
			fmt.Fprintf(w, "\t%d", c.Counts[i][j])
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
	return b.String()
}
