package llm_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
)

// named answers with its name and the model key it received.
func named(name string) llm.Model {
	return llm.ModelFunc(func(_ context.Context, req llm.Request) (llm.Response, error) {
		return llm.Response{Content: name + ":" + req.Model}, nil
	})
}

func TestRouterRoutesByModelKey(t *testing.T) {
	r, err := llm.NewRouter(named("default"),
		llm.Route{Key: "gpt-4o", Model: named("openai")},
		llm.Route{Key: "gpt-4o", Prefix: true, Model: named("openai-family")},
		llm.Route{Key: "gpt-", Prefix: true, Model: named("openai-any")},
		llm.Route{Key: "ollama/", Prefix: true, Strip: true, Model: named("ollama")},
	)
	require.NoError(t, err)
	for key, want := range map[string]string{
		"gpt-4o":          "openai:gpt-4o",             // exact beats every prefix
		"gpt-4o-mini":     "openai-family:gpt-4o-mini", // the longer prefix wins
		"gpt-3.5-turbo":   "openai-any:gpt-3.5-turbo",  // the shorter one takes the rest
		"ollama/llama3.1": "ollama:llama3.1",           // stripped
		"claude-3-haiku":  "default:claude-3-haiku",    // the default
		"GPT-4O":          "default:GPT-4O",            // keys are exact: case matters
		"":                "default:",
	} {
		resp, err := r.Generate(context.Background(), llm.Request{Model: key, Messages: []llm.Message{{Role: llm.RoleUser, Content: "x"}}})
		require.NoError(t, err)
		assert.Equal(t, want, resp.Content, key)
	}
}

func TestRouterWithoutADefaultNamesTheKey(t *testing.T) {
	r, err := llm.NewRouter(nil, llm.Route{Key: "a", Model: named("a")})
	require.NoError(t, err)
	_, err = r.Generate(context.Background(), llm.Request{Model: "judge-model"})
	require.ErrorIs(t, err, llm.ErrInvalidRequest)
	assert.False(t, llm.Retryable(err))
	assert.Equal(t, `llm: no model is routed for the model key "judge-model"`, llm.SafeText(err), "an operator is told which key")
	_, _, ok := r.Route("judge-model")
	assert.False(t, ok)
}

func TestNewRouterReportsEveryBadRoute(t *testing.T) {
	_, err := llm.NewRouter(nil,
		llm.Route{Model: named("x")},
		llm.Route{Key: "k"},
		llm.Route{Key: "s", Strip: true, Model: named("x")},
		llm.Route{Key: "d", Model: named("x")},
		llm.Route{Key: "d", Model: named("y")},
		llm.Route{Key: "d", Prefix: true, Model: named("z")}, // a prefix of the same text is another route
	)
	require.Error(t, err)
	for _, want := range []string{"routes[0].key", "routes[1].model", "routes[2].strip", `routes[4].key: "d" is routed twice`} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "routes[5]")
}

func TestRouterIsSafeForConcurrentUse(t *testing.T) {
	r, err := llm.NewRouter(named("d"), llm.Route{Key: "p/", Prefix: true, Strip: true, Model: named("p")})
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := r.Generate(context.Background(), llm.Request{Model: "p/m"})
			if err == nil && resp.Content != "p:m" {
				err = errors.New(resp.Content)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
}
