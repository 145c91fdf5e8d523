package llm

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"math"
	"sync"
)

// A Cache stores model responses by key. Hosts back it with whatever they
// have — Redis, a database table — or use [LRUCache].
//
// Its methods may be called concurrently. Get reports ok=false for a key it
// does not hold; an error from either method is logged by [WithCache] and
// otherwise treated as a miss, never as a failed model call.
type Cache interface {
	Get(ctx context.Context, key string) (resp Response, ok bool, err error)
	Set(ctx context.Context, key string, resp Response) error
}

// CacheKey returns the key [WithCache] stores req's response under: the
// hex SHA-256 of every field of the request — model key, system
// instructions, every message's role and content, the schema (insignificant
// white space ignored) and its name, temperature, output limit and seed —
// each written with its length, byte for byte, so that requests that differ
// in any way get different keys.
func CacheKey(req Request) string {
	h := sha256.New()
	var n [8]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	putInt := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	h.Write([]byte("debrief-llm-cache-v2\n"))
	put([]byte(req.Model))
	put([]byte(req.System))
	putInt(uint64(len(req.Messages)))
	for _, m := range req.Messages {
		put([]byte(m.Role))
		put([]byte(m.Content))
	}
	schema := req.Schema
	var compact bytes.Buffer
	if len(schema) > 0 && json.Compact(&compact, schema) == nil {
		schema = compact.Bytes()
	}
	put(schema)
	put([]byte(req.SchemaName))
	if req.Temperature == nil {
		put(nil)
	} else {
		put([]byte{1})
		putInt(math.Float64bits(*req.Temperature))
	}
	putInt(uint64(req.MaxOutputTokens))
	if req.Seed == nil {
		put(nil)
	} else {
		put([]byte{1})
		putInt(uint64(*req.Seed))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CacheOptions configure [WithCache].
type CacheOptions struct {
	// Logger receives a warning for every failing cache operation.
	// Default: none.
	Logger *slog.Logger
}

// WithCache answers a request from c when c holds a response for its
// [CacheKey], and otherwise calls the wrapped model and stores the answer.
// Only completed answers are stored: an error, a truncated answer or a
// refusal never is. A response served from the cache has Cached set and a
// zero Usage, since it spent no tokens.
//
// Identical requests get identical answers: a caller that samples a model
// several times for the same prompt must vary [Request.Seed] between
// samples, or the cache will serve the first sample every time. Concurrent
// identical requests that miss are each sent to the model.
//
// opts is optional; when several are given, the last one with a Logger
// supplies it.
func WithCache(c Cache, opts ...CacheOptions) Middleware {
	if c == nil {
		panic("llm: WithCache: nil cache")
	}
	logger := slog.New(slog.DiscardHandler)
	for _, o := range opts {
		if o.Logger != nil {
			logger = o.Logger
		}
	}
	return func(next Model) Model {
		return ModelFunc(func(ctx context.Context, req Request) (Response, error) {
			key := CacheKey(req)
			if resp, ok, err := c.Get(ctx, key); err != nil {
				logger.WarnContext(ctx, "llm: cache get failed", slog.String("model", req.Model), slog.Any("error", err))
			} else if ok {
				resp.Cached, resp.Usage = true, Usage{}
				return resp, nil
			}
			resp, err := next.Generate(ctx, req)
			if err != nil || resp.Err() != nil {
				return resp, err
			}
			if err := c.Set(ctx, key, resp); err != nil {
				logger.WarnContext(ctx, "llm: cache set failed", slog.String("model", req.Model), slog.Any("error", err))
			}
			return resp, nil
		})
	}
}

// An LRUCache is an in-memory [Cache] bounded in entries and in bytes; when
// either bound would be exceeded it evicts the least recently used entries.
// It is safe for concurrent use. Its methods never return an error.
type LRUCache struct {
	maxEntries int
	maxBytes   int64

	mu    sync.Mutex
	order *list.List // front = most recently used; values are *lruEntry
	items map[string]*list.Element
	bytes int64
}

type lruEntry struct {
	key  string
	resp Response
	size int64
}

// NewLRUCache returns an empty cache holding at most maxEntries responses
// and, when maxBytes > 0, at most maxBytes bytes of keys and responses. It
// panics if maxEntries < 1. A single response larger than maxBytes is not
// stored, and removes any older response stored under its key.
func NewLRUCache(maxEntries int, maxBytes int64) *LRUCache {
	if maxEntries < 1 {
		panic("llm: NewLRUCache: maxEntries must be at least 1")
	}
	return &LRUCache{maxEntries: maxEntries, maxBytes: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

// Get returns the response stored under key and marks it recently used.
func (c *LRUCache) Get(_ context.Context, key string) (Response, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return Response{}, false, nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*lruEntry).resp, true, nil
}

// Set stores resp under key, evicting the least recently used entries as
// needed to stay within the bounds.
func (c *LRUCache) Set(_ context.Context, key string, resp Response) error {
	size := int64(len(key) + len(resp.Content) + len(resp.Model) + len(resp.FinishReason) + 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.removeElement(el)
	}
	if c.maxBytes > 0 && size > c.maxBytes {
		return nil
	}
	c.items[key] = c.order.PushFront(&lruEntry{key: key, resp: resp, size: size})
	c.bytes += size
	for c.order.Len() > c.maxEntries || (c.maxBytes > 0 && c.bytes > c.maxBytes) {
		c.removeElement(c.order.Back())
	}
	return nil
}

func (c *LRUCache) removeElement(el *list.Element) {
	e := c.order.Remove(el).(*lruEntry)
	delete(c.items, e.key)
	c.bytes -= e.size
}

// Len returns the number of responses held.
func (c *LRUCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// Bytes returns the accounted size of the responses held.
func (c *LRUCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
