package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
)

// FuzzCursor feeds arbitrary cursors to the paged lists of a run: never a
// panic; a cursor is either read or refused with ErrInvalid.
func FuzzCursor(f *testing.F) {
	ctx := context.Background()
	sc := analysis.Scope{Tenant: "t", Project: "p"}
	s := memstore.New()
	if err := s.CreateDefinition(ctx, sc, analysis.Definition{ID: "d", Key: "d", Version: 1}); err != nil {
		f.Fatal(err)
	}
	keys := []string{"a", "b", "c", "d", "e"}
	if _, err := s.CreateRun(ctx, sc, analysis.Run{ID: "r", DefinitionKey: "d", DefinitionVersion: 1, Status: analysis.RunPending},
		analysis.KeySelection{Keys: keys, Max: 10, ChunkSize: 2}); err != nil {
		f.Fatal(err)
	}
	c, ok, err := s.ClaimChunk(ctx, "x", time.Hour)
	if err != nil || !ok {
		f.Fatal(ok, err)
	}
	for _, k := range c.Keys {
		if err := s.SaveItem(ctx, c.ChunkRef, analysis.Item{ConversationKey: k}, nil); err != nil {
			f.Fatal(err)
		}
	}
	_, itemsNext, _ := s.ListRunItems(ctx, sc, "r", analysis.Page{Limit: 1})
	_, keysNext, _ := s.ListRunKeys(ctx, sc, "r", analysis.Page{Limit: 2})
	for _, seed := range []string{"", itemsNext, keysNext, "garbage", "aXRlbXMAcgAx", "a2V5cwByADk5"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		for _, list := range []func() (int, error){
			func() (int, error) {
				got, _, err := s.ListRunItems(ctx, sc, "r", analysis.Page{Cursor: cursor, Limit: 3})
				return len(got), err
			},
			func() (int, error) {
				got, _, err := s.ListRunKeys(ctx, sc, "r", analysis.Page{Cursor: cursor, Limit: 3})
				return len(got), err
			},
		} {
			n, err := list()
			if err != nil && !errors.Is(err, analysis.ErrInvalid) {
				t.Fatalf("cursor %q: unclassified error %v", cursor, err)
			}
			if n > 3 {
				t.Fatalf("cursor %q: a page of %d, more than its limit", cursor, n)
			}
		}
	})
}
