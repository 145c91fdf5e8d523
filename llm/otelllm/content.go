package otelllm

import (
	"bytes"
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel/attribute"

	"github.com/debrief-go/debrief/llm"
	"github.com/debrief-go/debrief/session"
)

// The shapes the conventions give gen_ai.system_instructions,
// gen_ai.input.messages and gen_ai.output.messages, reduced to the text
// parts debrief sends and receives.
type (
	textPart struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	inputMessage struct {
		Role  string     `json:"role"`
		Parts []textPart `json:"parts"`
	}
	outputMessage struct {
		Role         string     `json:"role"`
		Parts        []textPart `json:"parts"`
		FinishReason string     `json:"finish_reason"`
	}
)

// inputContent is the redacted input of a call, as the JSON of the
// conventions, or withheld because it could not be redacted.
type inputContent struct {
	system   string // "" when the request has no system instructions
	messages string
	withheld bool
}

// redactInput redacts the system instructions and the messages of req.
func (t *telemetry) redactInput(ctx context.Context, req llm.Request) inputContent {
	var in inputContent
	if req.System != "" {
		text, err := session.RedactText(ctx, t.redactor, req.System)
		if err != nil {
			return inputContent{withheld: true}
		}
		if in.system, err = encode([]textPart{{Type: "text", Content: text}}); err != nil {
			return inputContent{withheld: true}
		}
	}
	msgs := make([]inputMessage, len(req.Messages))
	for i, m := range req.Messages {
		text, err := session.RedactText(ctx, t.redactor, m.Content)
		if err != nil {
			return inputContent{withheld: true}
		}
		msgs[i] = inputMessage{Role: string(m.Role), Parts: []textPart{{Type: "text", Content: text}}}
	}
	var err error
	if in.messages, err = encode(msgs); err != nil {
		return inputContent{withheld: true}
	}
	return in
}

// appendContent appends the content attributes of a call to attrs: the
// input redacted before the call and the answer, redacted now, if there is
// one. When any redaction failed, it appends only
// debrief.llm.content.withheld.
func (t *telemetry) appendContent(ctx context.Context, attrs []attribute.KeyValue, in inputContent, resp llm.Response, err error) []attribute.KeyValue {
	if in.withheld {
		return append(attrs, keyContentWithheld.Bool(true))
	}
	var out string
	if err == nil || resp.Content != "" {
		text, rerr := session.RedactText(ctx, t.redactor, resp.Content)
		if rerr == nil {
			out, rerr = encode([]outputMessage{{Role: string(llm.RoleAssistant),
				Parts: []textPart{{Type: "text", Content: text}}, FinishReason: finishReason(resp, err)}})
		}
		if rerr != nil {
			return append(attrs, keyContentWithheld.Bool(true))
		}
	}
	if in.system != "" {
		attrs = append(attrs, keySystemInstructions.String(in.system))
	}
	attrs = append(attrs, keyInputMessages.String(in.messages))
	if out != "" {
		attrs = append(attrs, keyOutputMessages.String(out))
	}
	return attrs
}

// encode returns v as compact JSON, leaving <, > and & as they are.
func encode(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))), nil
}
