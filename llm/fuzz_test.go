package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/debrief-go/debrief/llm"
)

// FuzzGenerateStructured feeds arbitrary model output to GenerateStructured:
// it must never panic, and must either return a value that satisfies the
// schema or fail with a classified error.
func FuzzGenerateStructured(f *testing.F) {
	for _, seed := range []string{
		goodVerdict,
		"",
		"null",
		"[]",
		`"just a string"`,
		"```json\n" + goodVerdict + "\n```",
		"```\n{\"reasoning\":",
		"Sure! " + goodVerdict + " Anything else?",
		`{"reasoning":"x","evidence":[{"turn":1.5,"quote":null}],"score":-0}`,
		`{"reasoning":"x","evidence":[],"score":1e400}`,
		`{"reasoning":"\ud800","evidence":[],"score":0.5}`,
		strings.Repeat("[", 10000),
		`{"reasoning":"x","evidence":[],"score":0.5}{"second":1}`,
		"{\"reasoning\":\"a\x00b\",\"evidence\":[],\"score\":0.5}",
	} {
		f.Add(seed, false)
	}
	f.Add(goodVerdict[:30], true)
	f.Fuzz(func(t *testing.T, content string, truncated bool) {
		finish := llm.FinishStop
		if truncated {
			finish = llm.FinishLength
		}
		calls := 0
		m := llm.ModelFunc(func(context.Context, llm.Request) (llm.Response, error) {
			calls++
			return llm.Response{Content: content, FinishReason: finish}, nil
		})
		res, err := llm.GenerateStructured[verdict](context.Background(), m, verdictSch, baseRequest())
		if res.Attempts != calls || calls < 1 || calls > llm.DefaultMaxAttempts {
			t.Fatalf("attempts %d, calls %d", res.Attempts, calls)
		}
		switch {
		case err == nil:
			if truncated {
				t.Fatal("a truncated answer was accepted")
			}
			if res.Value.Score < 0 || res.Value.Score > 1 {
				t.Fatalf("accepted a score outside the schema: %v", res.Value.Score)
			}
		case truncated:
			if !errors.Is(err, llm.ErrOutputTruncated) {
				t.Fatalf("truncated answer gave %v", err)
			}
		default:
			var ioe *llm.InvalidOutputError
			if !errors.As(err, &ioe) || !errors.Is(err, llm.ErrInvalidOutput) {
				t.Fatalf("unclassified error %T: %v", err, err)
			}
			if len(ioe.Problems) == 0 || ioe.Attempts != llm.DefaultMaxAttempts {
				t.Fatalf("invalid output error without problems or with %d attempts", ioe.Attempts)
			}
			for _, p := range ioe.Problems {
				if !strings.HasPrefix(p.Path, "$") || p.Message == "" {
					t.Fatalf("malformed problem %+v", p)
				}
			}
		}
	})
}
