package main

import (
	"sync"
	"time"
)

// A waker wakes goroutines at set instants more precisely than the
// runtime's timers do on Linux. When every P is idle, the runtime waits for
// its next timer in epoll_wait, whose timeout is in whole milliseconds, so
// a timer fires up to a millisecond late; timers that expire together
// share one late wake-up. A simulated model that sleeps on a timer
// therefore answers a pool whose calls end in lockstep sooner than one
// whose calls are spread out — as any work between calls spreads them —
// and a bench comparing the two would measure that rounding rather than
// the work. A model whose answers come over the network wakes its caller
// when the bytes arrive. The waker comes close: one goroutine sleeps in the
// kernel (nanosleep) until the earliest instant, in slices of at most
// maxSlice, and wakes every goroutine due — about 0.1 ms late, the
// system's timer slack and a reschedule, where a timer is up to 1 ms late.
// Elsewhere it sleeps on the runtime's timers, whose pollers take their
// timeouts in nanoseconds.
//
// Instants are kept in order by insertion from the back, which is constant
// time when they come in order, as they do for one latency.
type waker struct {
	mu    sync.Mutex
	queue []wake
	kick  chan struct{}
	done  chan struct{}
}

type wake struct {
	at time.Time
	ch chan struct{}
}

// maxSlice bounds one sleep, so that an instant queued ahead of the one
// slept for is at most that late.
const maxSlice = time.Millisecond

// newWaker returns a waker whose goroutine runs until stop is called.
func newWaker() *waker {
	w := &waker{kick: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run()
	return w
}

// stop ends the waker's goroutine; waits not yet due are never woken.
func (w *waker) stop() { close(w.done) }

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

// forget takes a wait off the queue, for a caller that no longer waits.
func (w *waker) forget(ch <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.queue {
		if w.queue[i].ch == ch {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			w.queue[:len(w.queue)+1][len(w.queue)] = wake{}
			return
		}
	}
}

func (w *waker) run() {
	for {
		w.mu.Lock()
		now := time.Now()
		n := 0
		for n < len(w.queue) && !w.queue[n].at.After(now) {
			close(w.queue[n].ch)
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
			select {
			case <-w.kick:
			case <-w.done:
				return
			}
			continue
		}
		select {
		case <-w.kick: // an instant was queued first while the queue was read
			continue
		case <-w.done:
			return
		default:
		}
		sleepFor(min(time.Until(next), maxSlice))
	}
}
