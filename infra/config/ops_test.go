package config_test

import (
	"strings"
	"testing"

	"github.com/orderflow/orderflow/infra/config"
)

func TestKillSwitchAndWebhookURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		want  bool
	}{{"", false}, {"true", true}, {"TRUE", true}, {"1", true}, {"false", false}, {"0", false}} {
		c, err := config.Load(env(map[string]string{"DOWNLOADS_DISABLED": tt.value}))
		if err != nil || c.DownloadsDisabled != tt.want {
			t.Errorf("DOWNLOADS_DISABLED=%q: %v, %v; want %v", tt.value, c.DownloadsDisabled, err, tt.want)
		}
	}
	c, err := config.Load(env(map[string]string{"STRIPE_WEBHOOK_URL": "https://api.example.com/prod/webhooks/stripe"}))
	if err != nil || c.StripeWebhookURL != "https://api.example.com/prod/webhooks/stripe" {
		t.Fatalf("STRIPE_WEBHOOK_URL: %q, %v", c.StripeWebhookURL, err)
	}
	_, err = config.Load(env(map[string]string{"DOWNLOADS_DISABLED": "sometimes", "STRIPE_WEBHOOK_URL": "api.example.com/webhooks"}))
	if err == nil || !strings.Contains(err.Error(), "DOWNLOADS_DISABLED") || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_URL") {
		t.Fatalf("err = %v, want both problems at once", err)
	}
}
