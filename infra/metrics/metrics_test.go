package metrics_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/orderflow/orderflow/infra/metrics"
)

func TestCountWritesEmbeddedMetricFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	metrics.New(&buf).Count(metrics.EventsApplied, 2, map[string]string{"eventType": "charge.refunded"})
	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Applied   int    `json:"EventsApplied"`
		EventType string `json:"eventType"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	m := line.AWS.CloudWatchMetrics
	if line.Applied != 2 || line.EventType != "charge.refunded" || line.AWS.Timestamp == 0 || len(m) != 1 ||
		m[0].Namespace != metrics.Namespace || len(m[0].Dimensions) != 2 || len(m[0].Dimensions[0]) != 0 || m[0].Dimensions[1][0] != "eventType" ||
		m[0].Metrics[0].Name != metrics.EventsApplied || m[0].Metrics[0].Unit != "Count" {
		t.Fatalf("unexpected EMF line: %s", buf.String())
	}
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	t.Parallel()
	var r *metrics.Recorder
	r.Count(metrics.DLQMoved, 1, nil) // must not panic
}
