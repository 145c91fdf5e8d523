package llm_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/llm/llmtest"
)

func TestCacheHit(t *testing.T) {
	m := llmtest.NewScripted(llmtest.Reply(`{"a":1}`).WithUsage(llm.Usage{InputTokens: 50, OutputTokens: 5}))
	cache := llm.NewLRUCache(10, 0)
	cm := llm.Chain(m, llm.WithCache(cache))

	first, err := cm.Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	assert.False(t, first.Cached)
	assert.Equal(t, int64(50), first.Usage.InputTokens)

	second, err := cm.Generate(context.Background(), baseRequest())
	require.NoError(t, err)
	assert.True(t, second.Cached)
	assert.Equal(t, `{"a":1}`, second.Content)
	assert.True(t, second.Usage.IsZero(), "a hit spent no tokens")
	assert.Equal(t, 1, m.Len(), "the model was called once")
	assert.Equal(t, 1, cache.Len())
}

func TestCacheNeverStoresAnError(t *testing.T) {
	m := llmtest.NewScripted(
		llmtest.Fail(transient),
		llmtest.Reply(`{"a":`).WithFinish(llm.FinishLength),
		llmtest.Reply(``).WithFinish(llm.FinishRefusal),
		llmtest.Reply(`{"a":1}`),
		llmtest.Reply(`{"a":2}`),
	)
	cache := llm.NewLRUCache(10, 0)
	cm := llm.Chain(m, llm.WithCache(cache))
	ctx := context.Background()

	_, err := cm.Generate(ctx, baseRequest())
	assert.ErrorIs(t, err, llm.ErrTransient)
	assert.Equal(t, 0, cache.Len(), "an error is not stored")

	resp, err := cm.Generate(ctx, baseRequest())
	require.NoError(t, err)
	assert.Equal(t, llm.FinishLength, resp.FinishReason)
	assert.Equal(t, 0, cache.Len(), "a truncated answer is not stored")

	resp, err = cm.Generate(ctx, baseRequest())
	require.NoError(t, err)
	assert.Equal(t, llm.FinishRefusal, resp.FinishReason)
	assert.Equal(t, 0, cache.Len(), "a refusal is not stored")

	resp, err = cm.Generate(ctx, baseRequest())
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, resp.Content)
	resp, err = cm.Generate(ctx, baseRequest())
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, resp.Content, "the completed answer is what is served")
	assert.Equal(t, 4, m.Len())
}

type brokenCache struct{ gets, sets int }

func (b *brokenCache) Get(context.Context, string) (llm.Response, bool, error) {
	b.gets++
	return llm.Response{}, false, errors.New("redis down")
}

func (b *brokenCache) Set(context.Context, string, llm.Response) error {
	b.sets++
	return errors.New("redis down")
}

func TestCacheFailureIsAMiss(t *testing.T) {
	b := &brokenCache{}
	m := llmtest.NewScripted(llmtest.Reply(`{}`), llmtest.Reply(`{}`))
	cm := llm.Chain(m, llm.WithCache(b, llm.CacheOptions{}))
	for range 2 {
		_, err := cm.Generate(context.Background(), baseRequest())
		require.NoError(t, err, "a broken cache never fails a call")
	}
	assert.Equal(t, 2, m.Len())
	assert.Equal(t, 2, b.gets)
	assert.Equal(t, 2, b.sets)
	assert.Panics(t, func() { llm.WithCache(nil) })
}

func TestCacheKeyCoversTheWholeRequest(t *testing.T) {
	base := llm.Request{
		Model: "m", System: "s", Messages: []llm.Message{{Role: llm.RoleUser, Content: "c"}},
		Schema: []byte(`{"type":"object"}`), SchemaName: "n", Temperature: ptr(0.0), MaxOutputTokens: 10, Seed: ptr(int64(1)),
	}
	variants := map[string]func(*llm.Request){
		"model":       func(r *llm.Request) { r.Model = "m2" },
		"system":      func(r *llm.Request) { r.System = "s2" },
		"content":     func(r *llm.Request) { r.Messages = []llm.Message{{Role: llm.RoleUser, Content: "c2"}} },
		"role":        func(r *llm.Request) { r.Messages = []llm.Message{{Role: llm.RoleAssistant, Content: "c"}} },
		"extra turn":  func(r *llm.Request) { r.Messages = append(r.Messages, llm.Message{Role: llm.RoleUser}) },
		"schema":      func(r *llm.Request) { r.Schema = []byte(`{"type":"array"}`) },
		"schema name": func(r *llm.Request) { r.SchemaName = "n2" },
		"temperature": func(r *llm.Request) { r.Temperature = ptr(0.5) },
		"no temp":     func(r *llm.Request) { r.Temperature = nil },
		"max tokens":  func(r *llm.Request) { r.MaxOutputTokens = 11 },
		"seed":        func(r *llm.Request) { r.Seed = ptr(int64(2)) },
		"no seed":     func(r *llm.Request) { r.Seed = nil },
	}
	keys := map[string]string{llm.CacheKey(base): "base"}
	for name, edit := range variants {
		r := base
		r.Messages = append([]llm.Message(nil), base.Messages...)
		edit(&r)
		k := llm.CacheKey(r)
		assert.Len(t, k, 64)
		if prev, dup := keys[k]; dup {
			t.Errorf("%s has the same key as %s", name, prev)
		}
		keys[k] = name
	}
	spaced := base
	spaced.Schema = []byte("{ \"type\" :\n \"object\" }")
	assert.Equal(t, llm.CacheKey(base), llm.CacheKey(spaced), "schema whitespace does not matter")

	// Values no JSON encoder accepts still key apart.
	odd := map[string]llm.Request{
		"nan a":        {Model: "a", Temperature: ptr(math.NaN())},
		"nan b":        {Model: "b", Temperature: ptr(math.NaN())},
		"bad schema a": {Model: "a", Schema: []byte(`{"type":`)},
		"bad schema b": {Model: "a", Schema: []byte(`{"type":"`)},
		"bad utf8 a":   {Model: "a", Messages: []llm.Message{{Role: llm.RoleUser, Content: "\xff"}}},
		"bad utf8 b":   {Model: "a", Messages: []llm.Message{{Role: llm.RoleUser, Content: "\xfe"}}},
		"split a":      {Model: "ab", System: "c"},
		"split b":      {Model: "a", System: "bc"},
	}
	seen := map[string]string{}
	for name, r := range odd {
		k := llm.CacheKey(r)
		if prev, dup := seen[k]; dup {
			t.Errorf("%s has the same key as %s", name, prev)
		}
		seen[k] = name
	}
}

func TestLRUCacheBounds(t *testing.T) {
	ctx := context.Background()
	c := llm.NewLRUCache(3, 0)
	for i := range 5 {
		require.NoError(t, c.Set(ctx, fmt.Sprint(i), llm.Response{Content: fmt.Sprint(i)}))
		assert.LessOrEqual(t, c.Len(), 3)
	}
	for _, evicted := range []string{"0", "1"} {
		_, ok, _ := c.Get(ctx, evicted)
		assert.False(t, ok, "%s was least recently used", evicted)
	}
	_, ok, _ := c.Get(ctx, "2") // 2 becomes the most recently used
	assert.True(t, ok)
	require.NoError(t, c.Set(ctx, "5", llm.Response{}))
	_, ok, _ = c.Get(ctx, "3")
	assert.False(t, ok, "3 was the least recently used after 2 was read")
	_, ok, _ = c.Get(ctx, "2")
	assert.True(t, ok)

	require.NoError(t, c.Set(ctx, "2", llm.Response{Content: "again"}))
	got, _, _ := c.Get(ctx, "2")
	assert.Equal(t, "again", got.Content, "a second Set replaces")
	assert.Equal(t, 3, c.Len())

	bc := llm.NewLRUCache(1000, 1000)
	for i := range 50 {
		require.NoError(t, bc.Set(ctx, fmt.Sprint(i), llm.Response{Content: strings.Repeat("x", 100)}))
		assert.LessOrEqual(t, bc.Bytes(), int64(1000), "the byte bound holds")
	}
	assert.Positive(t, bc.Len())
	require.NoError(t, bc.Set(ctx, "huge", llm.Response{Content: strings.Repeat("x", 5000)}))
	_, ok, _ = bc.Get(ctx, "huge")
	assert.False(t, ok, "a response larger than the whole cache is not stored")
	assert.LessOrEqual(t, bc.Bytes(), int64(1000))

	small := llm.NewLRUCache(10, 500)
	require.NoError(t, small.Set(ctx, "k", llm.Response{Content: "old"}))
	require.NoError(t, small.Set(ctx, "k", llm.Response{Content: strings.Repeat("x", 1000)}))
	_, ok, _ = small.Get(ctx, "k")
	assert.False(t, ok, "an oversized Set does not leave the old value behind")
	assert.Zero(t, small.Bytes())

	assert.Panics(t, func() { llm.NewLRUCache(0, 0) })
}

func TestLRUCacheConcurrentUse(t *testing.T) {
	c := llm.NewLRUCache(64, 1<<16)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				key := fmt.Sprint((g*7 + i) % 100)
				if i%3 == 0 {
					_ = c.Set(context.Background(), key, llm.Response{Content: key})
				} else if resp, ok, _ := c.Get(context.Background(), key); ok {
					assert.Equal(t, key, resp.Content)
				}
			}
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 64)
}
