package main

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheWakerWakesEachWaiterNeverEarlyAndInOrder(t *testing.T) {
	w := newWaker()
	const n = 200
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	starts := make([]time.Time, n)
	late := make([]time.Duration, n)
	for i := range n {
		d := 2*time.Millisecond + time.Duration(i)*20*time.Microsecond
		starts[i] = time.Now()
		ch := w.after(d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ch
			took := time.Since(starts[i])
			mu.Lock()
			order = append(order, i)
			late[i] = took - d
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Len(t, order, n)
	for i := range n {
		assert.GreaterOrEqual(t, late[i], time.Duration(0), "waiter %d woken before its instant", i)
	}
	w.mu.Lock()
	assert.Empty(t, w.queue, "every waiter was taken off the queue")
	w.mu.Unlock()

}
