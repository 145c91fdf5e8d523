package llm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// A Route sends the requests whose model key matches it to a [Model].
type Route struct {
	// Key is the model key matched: exactly, or as a prefix when Prefix is
	// set ("claude-" matches "claude-3-5-haiku"). Required.
	Key string
	// Prefix makes Key match every model key that starts with it.
	Prefix bool
	// Model answers the matched requests. Required.
	Model Model
	// Strip, with Prefix, removes the prefix from the model key the Model
	// receives: a route "ollama/" with Strip sends "ollama/llama3.1" to its
	// model as "llama3.1".
	Strip bool
}

// A Router is a [Model] that sends each request to the model its model key
// routes to, so that a definition's extraction and judge models can live on
// different providers. An exact route wins over a prefix route, a longer
// prefix over a shorter one, and the default takes the rest; a key no route
// matches, with no default, fails with an error matching
// [ErrInvalidRequest] that names the key (an [SafeError], so an item's
// reason says which key). A Router is immutable and safe for concurrent use.
type Router struct {
	exact    map[string]Route
	prefixes []Route // longest first
	fallback Model
}

// NewRouter returns a router over routes, with fallback (nil for none)
// answering the model keys no route matches. It reports every route that
// has no key or no model, and keys routed twice.
func NewRouter(fallback Model, routes ...Route) (*Router, error) {
	r := &Router{exact: map[string]Route{}, fallback: fallback}
	var errs []error
	seen := map[string]bool{}
	for i, rt := range routes {
		at := "routes[" + strconv.Itoa(i) + "]"
		if rt.Key == "" {
			errs = append(errs, errors.New(at+".key: a route needs a model key"))
		}
		if rt.Model == nil {
			errs = append(errs, errors.New(at+".model: a route needs a model"))
		}
		if rt.Strip && !rt.Prefix {
			errs = append(errs, errors.New(at+".strip: only a prefix route can strip its key"))
		}
		id := strconv.FormatBool(rt.Prefix) + ":" + rt.Key
		if rt.Key != "" && seen[id] {
			errs = append(errs, fmt.Errorf("%s.key: %q is routed twice", at, rt.Key))
		}
		seen[id] = true
		if rt.Prefix {
			r.prefixes = append(r.prefixes, rt)
		} else {
			r.exact[rt.Key] = rt
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("llm: NewRouter: %w", errors.Join(errs...))
	}
	slices.SortStableFunc(r.prefixes, func(a, b Route) int { return len(b.Key) - len(a.Key) })
	return r, nil
}

// Route returns the model a request with model key key goes to, the key
// that model receives, and false when nothing takes it.
func (r *Router) Route(key string) (Model, string, bool) {
	if rt, ok := r.exact[key]; ok {
		return rt.Model, key, true
	}
	for _, rt := range r.prefixes {
		if rest, ok := strings.CutPrefix(key, rt.Key); ok {
			if rt.Strip {
				return rt.Model, rest, true
			}
			return rt.Model, key, true
		}
	}
	if r.fallback != nil {
		return r.fallback, key, true
	}
	return nil, "", false
}

// Generate sends req to the model its key routes to.
func (r *Router) Generate(ctx context.Context, req Request) (Response, error) {
	m, key, ok := r.Route(req.Model)
	if !ok {
		return Response{}, unroutedError(req.Model)
	}
	req.Model = key
	return m.Generate(ctx, req)
}

// unroutedError is the failure of a model key no route takes.
type unroutedError string

// Error names the model key no route takes.
func (e unroutedError) Error() string {
	return "llm: no model is routed for the model key " + strconv.Quote(string(e))
}

// SafeText names the key: a host's configuration, not a provider's text.
func (e unroutedError) SafeText() string { return e.Error() }

// Is makes the error match [ErrInvalidRequest].
func (e unroutedError) Is(target error) bool { return target == ErrInvalidRequest }
