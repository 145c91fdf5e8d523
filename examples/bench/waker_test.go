package main

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheWakerWakesEachWaiterNeverEarly(t *testing.T) {
	w := newWaker()
	defer w.stop()
	const n = 200
	var mu sync.Mutex
	late := make([]time.Duration, n)
	var wg sync.WaitGroup
	for i := range n {
		d := 2*time.Millisecond + time.Duration(i)*20*time.Microsecond
		start := time.Now()
		ch := w.after(d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ch
			mu.Lock()
			late[i] = time.Since(start) - d
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i := range n {
		assert.GreaterOrEqual(t, late[i], time.Duration(0), "waiter %d woken before its instant", i)
	}
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	t.Logf("lateness of %d waits: p50 %s, p90 %s, max %s", n, late[n/2], late[n*9/10], late[n-1])
	w.mu.Lock()
	assert.Empty(t, w.queue, "every waiter was taken off the queue")
	w.mu.Unlock()
}

// An instant queued ahead of the one the waker sleeps for is late by at
// most a slice of its sleep, not by the whole of it.
func TestAnEarlierInstantIsNotHeldByALaterOne(t *testing.T) {
	w := newWaker()
	defer w.stop()
	far := w.after(time.Hour)
	time.Sleep(5 * time.Millisecond) // the waker sleeps for the hour, a slice at a time
	start := time.Now()
	<-w.after(2 * time.Millisecond)
	assert.Less(t, time.Since(start), time.Second, "woken about 2 ms later, not an hour")
	w.forget(far)
	w.mu.Lock()
	assert.Empty(t, w.queue, "a forgotten wait leaves the queue")
	w.mu.Unlock()
	select {
	case <-far:
		t.Fatal("a forgotten wait was woken")
	default:
	}
}

func TestWaitsAreWokenInOrderOfInstant(t *testing.T) {
	w := newWaker()
	defer w.stop()
	w.mu.Lock() // queue them all before the waker looks
	chs := make([]<-chan struct{}, 0, 5)
	for _, d := range []time.Duration{9, 3, 7, 1, 5} {
		w.mu.Unlock()
		chs = append(chs, w.after(d*time.Millisecond))
		w.mu.Lock()
	}
	var ats []time.Time
	for _, q := range w.queue {
		ats = append(ats, q.at)
	}
	w.mu.Unlock()
	require.Len(t, ats, 5)
	assert.True(t, sort.SliceIsSorted(ats, func(i, j int) bool { return ats[i].Before(ats[j]) }), "kept in order of instant")
	for _, ch := range chs {
		<-ch
	}
}
