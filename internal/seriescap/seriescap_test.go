package seriescap_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/debrief-go/debrief/internal/seriescap"
)

func TestASetAdmitsItsFirstValuesAndThoseAgain(t *testing.T) {
	s := seriescap.New[string](3)
	for _, k := range []string{"a", "b", "a", "c"} {
		assert.Equal(t, k, seriescap.Name(s, k))
	}
	assert.Equal(t, seriescap.Overflow, seriescap.Name(s, "d"), "past the bound")
	assert.Equal(t, "b", seriescap.Name(s, "b"), "one admitted before keeps its name")
}

func TestASetNeverAdmitsMoreThanItsBound(t *testing.T) {
	s := seriescap.New[int](50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := map[int]bool{}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				k := (i*7 + g) % 100
				if s.Admit(k) {
					mu.Lock()
					admitted[k] = true
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	assert.Len(t, admitted, 50, fmt.Sprint(admitted))
}
