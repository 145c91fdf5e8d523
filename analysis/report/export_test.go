package report

// For the browser test: the contrast of two colours and the palette.
var (
	ContrastRatio = contrastRatio
	Palette       = map[string]string{"ink": colInk, "muted": colMuted, "paper": colPaper, "panel": colPanel}
)
