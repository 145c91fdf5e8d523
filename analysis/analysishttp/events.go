package analysishttp

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/debrief-go/debrief/analysis"
)

// A ProgressEvent is the data of a "progress" event of a run's event
// stream: where the run stands, and how fast it goes.
type ProgressEvent struct {
	// RunID names the run.
	RunID string `json:"runId"`
	// Status is pending or running.
	Status analysis.RunStatus `json:"status"`
	// Done counts the conversations finished, failed ones included.
	Done int `json:"done"`
	// Total counts the conversations selected.
	Total int `json:"total"`
	// RatePerSecond is how many conversations finished per second since
	// the stream opened; absent until it can be told.
	RatePerSecond *float64 `json:"ratePerSecond,omitempty"`
	// ETASeconds is how long the rest should take at that rate; absent
	// until it can be told.
	ETASeconds *float64 `json:"etaSeconds,omitempty"`
}

// An EndEvent is the data of the "end" event that closes a run's event
// stream: the finished run, with its aggregate, without its items.
type EndEvent struct {
	// Run is the finished run.
	Run RunSummary `json:"run"`
}

// events streams a run's progress as server-sent events: a "progress"
// event whenever the count of finished conversations or the status
// changes (and at once, when the stream opens), comments to keep the
// connection open, and an "end" event with the finished run, after which
// the stream closes. It also closes, without an end event, when its client
// leaves or [Options.Shutdown] is closed. A run that is not found answers
// 404 before the stream starts.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	sc, _, ok := h.begin(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	run, err := h.svc.GetRunStatus(ctx(r), sc, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives a server's write timeout
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // proxies pass events on at once
	hdr.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	start, startDone := h.opts.Now(), run.Progress.Done
	lastDone, lastStatus := -1, analysis.RunStatus("")
	lastWrite := start
	seq := 0
	send := func(event string, data any) bool {
		body, err := json.Marshal(data)
		if err != nil {
			return false
		}
		seq++
		if _, err := fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", event, seq, body); err != nil {
			return false
		}
		lastWrite = h.opts.Now()
		return rc.Flush() == nil
	}
	ticker := time.NewTicker(h.opts.EventInterval)
	defer ticker.Stop()
	for {
		if !run.Status.InProgress() {
			send("end", EndEvent{Run: RunSummary{Run: run}})
			return
		}
		now := h.opts.Now()
		if run.Progress.Done != lastDone || run.Status != lastStatus {
			if !send("progress", progress(run, start, startDone, now)) {
				return
			}
			lastDone, lastStatus = run.Progress.Done, run.Status
		} else if now.Sub(lastWrite) >= h.opts.KeepAlive {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
			lastWrite = now
		}
		select {
		case <-r.Context().Done():
			return
		case <-h.opts.Shutdown: // nil, and never ready, without one
			return
		case <-ticker.C:
		}
		next, err := h.svc.GetRunStatus(ctx(r), sc, id)
		if err != nil {
			if r.Context().Err() == nil {
				h.opts.Logger.Error("analysis API event stream failed", "run_id", id, "error", err.Error())
				send("error", ErrorBody{Error: "internal", Message: "the run could not be read"})
			}
			return
		}
		run = next
	}
}

// progress computes a progress event: the rate since the stream opened
// (at start, with startDone finished) and the time the rest takes at it.
func progress(run analysis.Run, start time.Time, startDone int, now time.Time) ProgressEvent {
	ev := ProgressEvent{RunID: run.ID, Status: run.Status, Done: run.Progress.Done, Total: run.Progress.Total}
	elapsed := now.Sub(start).Seconds()
	if done := run.Progress.Done - startDone; done > 0 && elapsed > 0 {
		rate := float64(done) / elapsed
		eta := float64(max(run.Progress.Total-run.Progress.Done, 0)) / rate
		if !math.IsInf(eta, 0) && !math.IsNaN(eta) {
			ev.RatePerSecond, ev.ETASeconds = &rate, &eta
		}
	}
	return ev
}
