package main

import (
	"sync"
	"time"
)

// A waker wakes goroutines at set instants more precisely than the
// runtime's timers do. When every P is idle, the runtime waits for its
// next timer in epoll_wait, whose timeout is in whole milliseconds (on
// Linux), so a timer fires up to a millisecond late; timers that expire
// together share one late wake-up. A simulated model that sleeps on a
// timer therefore answers a pool whose calls end in lockstep sooner than
// one whose calls are spread out — as any work between calls spreads them
// — and a bench comparing the two would measure that rounding rather than
// the work. A model whose answers come over the network wakes its caller
// when the bytes arrive, to the microsecond; the waker gives the simulated
// model that precision: one goroutine sleeps in the kernel (nanosleep, on
// Unix systems) until the earliest instant and wakes every goroutine due.
//
// Instants are kept in order by insertion from the back, which is constant
// time when they come in order, as they do for one latency.
type waker struct {
	mu    sync.Mutex
	queue []wake
	kick  chan struct{}
}

type wake struct {
	at   time.Time
	done chan struct{}
}

// newWaker returns a waker whose goroutine runs until the process exits.
func newWaker() *waker {
	w := &waker{kick: make(chan struct{}, 1)}
	go w.run()
	return w
}

// after returns a channel closed d from now.
func (w *waker) after(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	w.mu.Lock()
	at := time.Now().Add(d)
	i := len(w.queue)
	for i > 0 && w.queue[i-1].at.After(at) {
		i--
	}
	w.queue = append(w.queue, wake{})
	copy(w.queue[i+1:], w.queue[i:])
	w.queue[i] = wake{at, ch}
	first := i == 0
	w.mu.Unlock()
	if first {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	return ch
}

func (w *waker) run() {
	for {
		w.mu.Lock()
		now := time.Now()
		n := 0
		for n < len(w.queue) && !w.queue[n].at.After(now) {
			close(w.queue[n].done)
			n++
		}
		rest := copy(w.queue, w.queue[n:])
		clear(w.queue[rest:])
		w.queue = w.queue[:rest]
		var next time.Time
		if rest > 0 {
			next = w.queue[0].at
		}
		w.mu.Unlock()
		if next.IsZero() {
			<-w.kick
			continue
		}
		select {
		case <-w.kick: // an instant was queued first while the queue was read
			continue
		default:
		}
		sleepFor(time.Until(next))
	}
}
