package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/debrief-go/debrief/session"
	"github.com/debrief-go/debrief/timeline"
)

// maxLine bounds a line of a -sessions or -flows file.
const maxLine = 16 << 20

// readLines calls fn with each non-blank line of the JSON-lines file at
// path (none when path is empty), and its number, stopping at the first
// error, which names the file and the line.
func readLines(path string, fn func(n int, l line) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			return fmt.Errorf("%s:%d: %v", path, n, err)
		}
		if strings.TrimSpace(l.Tenant) == "" {
			return fmt.Errorf("%s:%d: the tenant is missing", path, n)
		}
		if err := fn(n, l); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %w (a line holds at most %d bytes)", path, n+1, err, maxLine)
	}
	return nil
}

// sessionSource serves the captures of -sessions.
type sessionSource map[[2]string]*session.Captures

// Captures implements session.Source.
func (s sessionSource) Captures(_ context.Context, orgID, sessionID string) (*session.Captures, error) {
	c, ok := s[[2]string{strings.ToLower(orgID), strings.ToLower(sessionID)}]
	if !ok {
		return nil, session.ErrNotFound
	}
	cp := *c // the assembler may not keep it, but never share
	return &cp, nil
}

// loadSessions reads -sessions: each line a Moveo record ("moveo") or the
// library's raw captures ("capture") of the tenant's organisation.
func loadSessions(path string) (sessionSource, error) {
	out := sessionSource{}
	err := readLines(path, func(_ int, l line) error {
		org := tenantID(l.Tenant)
		var c *session.Captures
		switch {
		case len(l.Moveo) > 0 && len(l.Capture) > 0, len(l.Flow) > 0:
			return fmt.Errorf(`a line holds "moveo" or "capture", not both, and no "flow"`)
		case len(l.Moveo) > 0:
			var err error
			if c, err = session.FromMoveoRecord(l.Moveo, session.MoveoOptions{OrganizationID: org}); err != nil {
				return err
			}
		case len(l.Capture) > 0:
			dec := json.NewDecoder(bytes.NewReader(l.Capture))
			dec.DisallowUnknownFields()
			c = &session.Captures{}
			if err := dec.Decode(c); err != nil {
				return fmt.Errorf("capture: %v", err)
			}
			switch {
			case c.OrganizationID == "":
				c.OrganizationID = org
			case !strings.EqualFold(c.OrganizationID, org):
				return fmt.Errorf("capture: organization_id %q is not the tenant's (%s)", c.OrganizationID, org)
			}
		default:
			return fmt.Errorf(`a line needs "moveo" or "capture"`)
		}
		k := [2]string{strings.ToLower(c.OrganizationID), strings.ToLower(c.SessionID)}
		if _, dup := out[k]; dup {
			return fmt.Errorf("session %s is given twice", c.SessionID)
		}
		out[k] = c
		return nil
	})
	return out, err
}

// flowSource serves the flows of -flows.
type flowSource map[[2]string]storedFlow

type storedFlow struct {
	flow   timeline.Flow
	events []timeline.Event
}

// Flow implements timeline.Source.
func (s flowSource) Flow(_ context.Context, customerID, flowID string) (timeline.Flow, error) {
	f, ok := s[[2]string{strings.ToLower(customerID), strings.ToLower(flowID)}]
	if !ok {
		return timeline.Flow{}, timeline.ErrNotFound
	}
	return f.flow, nil
}

// Events implements timeline.Source.
func (s flowSource) Events(_ context.Context, customerID, flowID string) ([]timeline.Event, error) {
	f, ok := s[[2]string{strings.ToLower(customerID), strings.ToLower(flowID)}]
	if !ok {
		return nil, timeline.ErrNotFound
	}
	return append([]timeline.Event(nil), f.events...), nil
}

// loadFlows reads -flows: each line a flow, in the library's JSON, with its
// events under "events".
func loadFlows(path string) (flowSource, error) {
	out := flowSource{}
	err := readLines(path, func(_ int, l line) error {
		if len(l.Flow) == 0 || len(l.Moveo)+len(l.Capture) > 0 {
			return fmt.Errorf(`a line holds "flow", and nothing else`)
		}
		var parts struct {
			Events json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(l.Flow, &parts); err != nil {
			return fmt.Errorf("flow: %v", err)
		}
		var flow timeline.Flow
		if err := json.Unmarshal(l.Flow, &flow); err != nil {
			return fmt.Errorf("flow: %v", err)
		}
		customer := tenantID(l.Tenant)
		switch {
		case flow.CustomerID == "":
			flow.CustomerID = customer
		case !strings.EqualFold(flow.CustomerID, customer):
			return fmt.Errorf("flow: customer_id %q is not the tenant's (%s)", flow.CustomerID, customer)
		}
		events, err := timeline.ParseEvents(parts.Events)
		if err != nil {
			return fmt.Errorf("flow: events: %w", err)
		}
		k := [2]string{strings.ToLower(flow.CustomerID), strings.ToLower(flow.ID)}
		if _, dup := out[k]; dup {
			return fmt.Errorf("flow %s is given twice", flow.ID)
		}
		out[k] = storedFlow{flow: flow, events: events}
		return nil
	})
	return out, err
}
