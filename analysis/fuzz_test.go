package analysis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/debrief-go/debrief/analysis"
	"github.com/debrief-go/debrief/analysis/memstore"
	"github.com/debrief-go/debrief/extract"
)

// FuzzIngest feeds arbitrary bodies to Ingest: never a panic; either every
// conversation is stored, or nothing is and the error is classified.
func FuzzIngest(f *testing.F) {
	for _, seed := range []string{
		seedBulk,
		`{"transcript":[{"role":"caller","content":"hi"}],"tags":["a"],"source":"manual","referenceFields":{"x":1}}`,
		`{"conversations":[{"name":"a","transcript":[{"role":"r","content":"c"}]},{"name":"a","transcript":[]}]}`,
		`{"conversations":[{"key":"k","transcript":[{"role":"r","content":"c"}]},{"key":"k","transcript":[{"role":"r","content":"c"}]}]}`,
		`{"conversations":{}}`, `[]`, `null`, `{"Transcript":1}`, `{"conversations":[null]}`,
		`{"name":"\u0000\ud800","transcript":[{"role":"r","content":"c"}]}`,
		`{"externalId":"session:1","transcript":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}],"evidence":{"retrievals":[{"turn":1,"chunks":[]}],` +
			`"citations":[{"turn":1,"docId":"d","chunkId":"c"}],"toolCalls":[{"turn":0,"name":"t","status":"failed"}],"handoffs":[{"at":"2026-01-01T00:00:00Z","afterTurn":1}],` +
			`"csat":{"score":1,"scaleMax":5},"customerMetadata":{"k":"v"},"missingEvidence":["no_csat"]}}`,
		`{"conversations":[{"externalId":"x","transcript":[{"role":"r","content":"c"}]},{"externalId":"x","transcript":[{"role":"r","content":"c"}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		store := memstore.New()
		svc, err := analysis.NewService(analysis.Config{Store: store})
		if err != nil {
			t.Fatal(err)
		}
		scope := analysis.Scope{Tenant: "t", Project: "p"}
		cs, err := svc.Ingest(context.Background(), scope, body)
		stored, _ := store.ListConversations(context.Background(), scope, analysis.ConversationQuery{ListQuery: analysis.ListQuery{Limit: 1 << 30}})
		if err != nil {
			if !errors.Is(err, analysis.ErrInvalid) && !errors.Is(err, analysis.ErrConflict) {
				t.Fatalf("unclassified error: %v", err)
			}
			if len(stored) != 0 {
				t.Fatalf("a failed ingest stored %d conversations", len(stored))
			}
			var ve *extract.ValidationError
			if errors.As(err, &ve) {
				for _, p := range ve.Problems {
					if !strings.HasPrefix(p.Path, "$") || p.Message == "" {
						t.Fatalf("malformed problem %+v", p)
					}
				}
			}
			return
		}
		if len(cs) == 0 || len(stored) != len(cs) {
			t.Fatalf("ingested %d, stored %d", len(cs), len(stored))
		}
		// Nothing was changed silently: stored text is UTF-8, and a
		// replacement character is stored only when the body spelled one.
		spelled := strings.Contains(string(body), "\ufffd") || strings.Contains(strings.ToLower(string(body)), `\ufffd`)
		for _, c := range cs {
			analysis.CheckEvidence(c) // never a panic on evidence that passed validation
			texts := []string{c.Name}
			for _, turn := range c.Transcript {
				texts = append(texts, turn.Role, turn.Content)
			}
			for _, s := range texts {
				if !utf8.ValidString(s) || strings.Contains(s, "\ufffd") && !spelled {
					t.Fatalf("stored text was changed: %q", s)
				}
			}
		}
	})
}

// FuzzUpdateDefinition feeds arbitrary patches: never a panic; a patch is
// applied whole and yields a valid definition, or changes nothing.
func FuzzUpdateDefinition(f *testing.F) {
	for _, seed := range []string{
		`{"name":"x"}`, `{"schedule":null}`, `{"modes":{"judge":null}}`, `{"fieldSet":[]}`, `{"Name":"x"}`,
		`{"modes":{"judge":{"threshold":2}}}`, `{"schedule":{"cron":"*/5 * * * *","enabled":true,"selection":{"strategy":"tag"}}}`,
		`[]`, `"x"`, `{"fieldSet":[{"key":"a","type":"enum","enumValues":["x","X"]}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, patch []byte) {
		svc, err := analysis.NewService(analysis.Config{Store: memstore.New()})
		if err != nil {
			t.Fatal(err)
		}
		scope := analysis.Scope{Tenant: "t", Project: "p"}
		d, err := svc.CreateDefinition(context.Background(), scope, intentDefinition())
		if err != nil {
			t.Fatal(err)
		}
		up, err := svc.UpdateDefinition(context.Background(), scope, d.Key, patch)
		got, gerr := svc.GetDefinition(context.Background(), scope, d.Key)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if err != nil {
			if !errors.Is(err, analysis.ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			if got.UpdatedAt != d.UpdatedAt || got.Name != d.Name {
				t.Fatal("a refused patch changed the definition")
			}
			return
		}
		if up.Key != d.Key || up.ID != d.ID {
			t.Fatal("a patch changed the key or ID")
		}
		if err := up.FieldSet.Validate(); err != nil {
			t.Fatalf("a patch stored an invalid field set: %v", err)
		}
	})
}
