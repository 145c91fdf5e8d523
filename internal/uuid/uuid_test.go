package uuid_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/debrief-go/debrief/internal/uuid"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		u := uuid.New()
		assert.True(t, uuid.Valid(u), u)
		assert.Equal(t, byte('4'), u[14], "version 4")
		assert.Contains(t, "89ab", string(u[19]), "RFC 9562 variant")
		assert.False(t, seen[u])
		seen[u] = true
	}
}

func TestV5(t *testing.T) {
	// RFC 9562 appendix: the DNS namespace and "www.example.com".
	dns := [16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	assert.Equal(t, "2ed6657d-e927-568b-95e1-2665a8aea6a2", uuid.Format(uuid.V5(dns, "www.example.com")))
}

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9":   true,
		"6F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9":   true,
		"6f1e2d3c4b5a49788695a4b3c2d1e0f9":       false,
		"6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg":   false,
		"6f1e2d3c-4b5a-4978-8695_a4b3c2d1e0f9":   false,
		"{6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}": false,
		"":                                       false,
	} {
		assert.Equal(t, want, uuid.Valid(s), s)
	}
}
