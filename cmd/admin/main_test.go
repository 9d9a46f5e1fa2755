package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/orderflow/orderflow/admin"
	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/config"
	"github.com/orderflow/orderflow/infra/emulator"
	"github.com/orderflow/orderflow/infra/lambdaenv/lambdaenvtest"
)

func TestMain(m *testing.M) { lambdaenvtest.Main(m, main) }

// apiRequest is an HTTP API (payload v2) request as API Gateway delivers it:
// a stage-prefixed rawPath, lowercased headers, cookies in their own list
// and the body base64-encoded.
func apiRequest(t *testing.T, method, path, query, token string, cookies []string, body string) []byte {
	t.Helper()
	headers := map[string]string{
		"host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https", "user-agent": "test",
	}
	if token != "" {
		headers["authorization"] = "Bearer " + token
	}
	if body != "" {
		headers["content-type"] = "application/x-www-form-urlencoded"
		if strings.HasPrefix(body, "{") {
			headers["content-type"] = "application/json"
		}
	}
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "ANY " + path, RawPath: "/prod" + path, RawQueryString: query,
		Cookies: cookies, Headers: headers, IsBase64Encoded: true, Body: base64.StdEncoding.EncodeToString([]byte(body)),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "prod", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: "/prod" + path, SourceIP: "3.18.12.63"},
		},
	}
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func invoke(ctx context.Context, t *testing.T, fn lambda.Handler, raw []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := fn.Invoke(ctx, raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

// withTokens configures one operator token: in the environment on SQLite,
// in a Secrets Manager secret in kumo on the emulators.
func withTokens(t *testing.T, env map[string]string, sum string) {
	t.Helper()
	if env["ORDERFLOW_BACKEND"] == config.BackendSQLite {
		env["ORDERFLOW_ADMIN_TOKENS"] = "adm_7:operator:" + sum
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	secret, err := secretsmanager.NewFromConfig(emulator.AWSConfig(emulator.Kumo(t))).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("orderflow/" + emulator.TableName(t) + "/admin-tokens"),
		SecretString: aws.String(fmt.Sprintf(`{"adminTokens":[{"actorId":"adm_7","role":"operator","sha256":%q}],"sessionKey":"%s"}`,
			sum, strings.Repeat("k", 40))),
	})
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	env["ADMIN_TOKENS_SECRET_ARN"] = aws.ToString(secret.ARN)
}

func TestAdminFunction(t *testing.T) {
	for _, b := range emulator.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang guard only
			defer cancel()
			env := b.Env(t)
			token, sum, err := admin.NewToken()
			if err != nil {
				t.Fatal(err)
			}
			withTokens(t, env, sum)
			be := emulator.OpenBackend(ctx, t, env)
			o, _ := domain.NewOrder(domain.Order{ID: "ord_lambda", UserID: "usr_1", SellerID: "sel_1", ProductID: "prd_1", Amount: 500, Currency: "usd",
				RequiresReview: true, ReviewReason: domain.ReasonAmountMismatch}, time.Now())
			if err := be.Store.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
			fn := lambdaenvtest.Handler(ctx, t, newHandler, env)

			// The JSON API, behind the stage prefix.
			if r := invoke(ctx, t, fn, apiRequest(t, "GET", "/admin/v1/orders/ord_lambda", "", "", nil, "")); r.StatusCode != 401 {
				t.Errorf("no token: %d %s", r.StatusCode, r.Body)
			}
			if r := invoke(ctx, t, fn, apiRequest(t, "GET", "/admin/v1/orders", "requiresReview=true&limit=5", token, nil, "")); r.StatusCode != 200 || !strings.Contains(r.Body, "ord_lambda") {
				t.Errorf("list: %d %s", r.StatusCode, r.Body)
			}

			// The console: sign in with cookies through payload v2's lists.
			r := invoke(ctx, t, fn, apiRequest(t, "GET", "/console/signin", "", "", nil, ""))
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(r.Body)
			if r.StatusCode != 200 || len(r.Cookies) != 1 || csrf == nil || !strings.Contains(r.Body, `action="/prod/console/signin"`) {
				t.Fatalf("sign-in page: %d, cookies %v", r.StatusCode, r.Cookies)
			}
			if c := r.Cookies[0]; !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") || !strings.Contains(c, "Secure") || !strings.Contains(c, "Path=/prod/console/") {
				t.Errorf("sign-in cookie %q: want HttpOnly, SameSite=Strict, Secure behind HTTPS, path /prod/console/", c)
			}
			form := url.Values{"csrf": {csrf[1]}, "token": {token}}.Encode()
			r = invoke(ctx, t, fn, apiRequest(t, "POST", "/console/signin", "", "", []string{strings.Split(r.Cookies[0], ";")[0]}, form))
			if r.StatusCode != 303 || r.Headers["Location"] != "/prod/console/queue" {
				t.Fatalf("sign in: %d to %q %s", r.StatusCode, r.Headers["Location"], r.Body)
			}
			var session string
			for _, c := range r.Cookies {
				if strings.HasPrefix(c, "orderflow_session=") {
					session = strings.Split(c, ";")[0]
				}
			}
			r = invoke(ctx, t, fn, apiRequest(t, "GET", "/console/queue", "", "", []string{session}, ""))
			if r.StatusCode != 200 || !strings.Contains(r.Body, "ord_lambda") || !strings.Contains(r.Body, "/prod/console/static/style.css") {
				t.Errorf("review queue: %d %s", r.StatusCode, r.Body)
			}
			if r := invoke(ctx, t, fn, apiRequest(t, "GET", "/console/static/style.css", "", "", nil, "")); r.StatusCode != 200 || !strings.Contains(r.Headers["Content-Type"], "text/css") {
				t.Errorf("style.css: %d %v", r.StatusCode, r.Headers)
			}
		})
	}
}

func TestAdminConfigurationErrors(t *testing.T) {
	t.Parallel()
	lambdaenvtest.RefusesBadConfig(t, newHandler, []lambdaenvtest.BadConfig{
		{Name: "nothing set defaults to aws", Env: map[string]string{}, Want: []string{"ADMIN_TOKENS_SECRET_ARN", "EVENTS_QUEUE_URL", "DLQ_URL"}},
		{Name: "bad values", Env: map[string]string{"ORDERFLOW_BACKEND": "sqlite", "ORDERFLOW_ADMIN_TOKENS": "adm_7:root:abc", "ORDERFLOW_SESSION_KEY": "short-secret"},
			Want: []string{"ORDERFLOW_ADMIN_TOKENS", "ORDERFLOW_SESSION_KEY"}, Secrets: []string{"short-secret"}},
	})
}

func TestBadConfigurationFailsInitWithOneLine(t *testing.T) {
	t.Parallel()
	lambdaenvtest.InitFails(t, []string{"LOG_LEVEL=loud"}, "LOG_LEVEL")
}
