package httppath_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/debrief-go/debrief/internal/httppath"
)

func TestUnclean(t *testing.T) {
	for _, p := range []string{"/", "/x", "/x/", "/x/y", "/api/analysis/runs/1/events"} {
		assert.False(t, httppath.Unclean(p), p)
	}
	for _, p := range []string{"", "x", "//x", "/./x", "/a/../x", "/x//y", "/x/.", "/x/..", "/x//"} {
		assert.True(t, httppath.Unclean(p), p)
	}
}
