package analysis

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/otel/attribute"
)

func TestMetricSeriesAreBounded(t *testing.T) {
	g := newSeriesGuard()
	a, b := Scope{Tenant: "acme", Project: "support"}, Scope{Tenant: "globex", Project: "support"}
	assert.Equal(t, []attribute.KeyValue{attrTenant.String("acme"), attrProject.String("support"), attrDefinitionKey.String("nightly")},
		g.scopeAttrs(a, "nightly"))
	assert.Equal(t, "globex", g.scopeAttrs(b, "nightly")[0].Value.AsString(), "the same key in two scopes is two series")
	for i := range MaxMetricDefinitions - 2 {
		assert.Equal(t, "acme", g.scopeAttrs(a, fmt.Sprint("d", i))[0].Value.AsString())
	}
	over := g.scopeAttrs(a, "one-too-many")
	assert.Equal(t, []attribute.KeyValue{attrTenant.String(MetricOverflow), attrProject.String(MetricOverflow), attrDefinitionKey.String(MetricOverflow)}, over)
	assert.Equal(t, "nightly", g.scopeAttrs(a, "nightly")[2].Value.AsString(), "one met before keeps its name")

	for i := range MaxMetricModels {
		assert.Equal(t, fmt.Sprint("m", i), g.modelName(fmt.Sprint("m", i)))
	}
	assert.Equal(t, MetricOverflow, g.modelName("m-new"))
	assert.Equal(t, "m0", g.modelName("m0"))
}

func TestNotSavedSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		cause, err error
		class      string
	}{
		{ErrLeaseLost, nil, "lease_lost"},
		{nil, fmt.Errorf("save: %w", ErrLeaseLost), "lease_lost"},
		{errStuck, nil, "stuck"},
		{errRunEnded, nil, "run_ended"},
		{nil, errBoom, "store"},
	} {
		why, class := notSaved(tc.cause, tc.err)
		assert.Equal(t, tc.class, class)
		assert.NotContains(t, why, "sk-secret", "nothing of the error's text")
		if class != "stuck" {
			assert.NotContains(t, why, "model", "a store's or a lease's failure is not the model's")
		}
	}
}

var errBoom = fmt.Errorf("connection reset by sk-secret-123")
