package analysishttp_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/analysishttp"
	"github.com/debrief-go/debrief/analysis/memstore"
)

// Serve the Analysis API, its scope taken from an API key.
func ExampleNew() {
	svc, err := analysis.NewService(analysis.Config{Store: memstore.New()})
	if err != nil {
		panic(err)
	}
	keys := map[string]analysis.Scope{"dev-key": {Tenant: "acme", Project: "support"}}
	api := analysishttp.New(svc, func(r *http.Request) (analysis.Scope, error) {
		sc, ok := keys[r.Header.Get("x-api-key")]
		if !ok {
			return analysis.Scope{}, errors.New("unknown key")
		}
		return sc, nil
	}, analysishttp.Options{})
	mux := http.NewServeMux()
	mux.Handle(analysishttp.Prefix+"/", api)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/api/analysis/conversations",
		strings.NewReader(`{"name": "Call 1042", "transcript": [{"role": "caller", "content": "I was charged twice."}]}`))
	req.Header.Set("x-api-key", "dev-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.Contains(string(body), `"key":"call-1042"`))
	// Output: 201 true
}
