// Package httppath tells the request paths an API answers from those it
// refuses: an http.ServeMux answers an unclean path ("//x", "/./x",
// "/a/../x") with a redirect in HTML, where an API that names each resource
// by one path should answer 404 in its own format.
package httppath

import "path"

// Unclean reports whether p is not the one path of what it names: empty,
// relative, or changed by path.Clean (a trailing slash aside).
func Unclean(p string) bool {
	if p == "" || p[0] != '/' {
		return true
	}
	c := path.Clean(p)
	return c != p && c+"/" != p
}
