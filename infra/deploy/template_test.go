package deploy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/sqs"
)

const (
	templatePath = "../../template.yaml"
	lambdaMkPath = "../../lambda.mk"
	repoRoot     = "../.."
)

// The Lambda functions and the command each one is built from.
var functionCmds = map[string]string{
	"IngressFunction":               "./cmd/ingress",
	"WorkerFunction":                "./cmd/worker",
	"CleanupFailedPaymentsFunction": "./cmd/cleanup",
	"ReplayFunction":                "./cmd/replay",
	"AdminFunction":                 "./cmd/admin",
}

// symbolic keeps references readable instead of letting goformation resolve
// them: by default it turns Ref to a resource and Fn::GetAtt into null, which
// would make "the policy names the queue's ARN" impossible to check. Ref X
// becomes "${X}", GetAtt X.Attr becomes "${X.Attr}", and a Sub string stays
// as written ("${OrdersTable.Arn}/index/*"), so all three read alike.
// Condition functions are kept as they are so conditions can be inspected.
//
// numbers maps Number parameters (intParams) to their defaults: goformation's typed
// structs cannot hold "${X}" in an integer field (RetentionInDays), so for
// the typed parse a Ref to such a parameter becomes its default, as
// goformation itself resolves parameters; the raw document keeps "${X}".
func symbolic(numbers map[string]float64) *intrinsics.ProcessorOptions {
	keep := func(name string, input, _ interface{}) interface{} {
		return map[string]interface{}{name: input}
	}
	return &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref": func(_ string, input, _ interface{}) interface{} {
				if n, ok := numbers[fmt.Sprint(input)]; ok {
					return n
				}
				return fmt.Sprintf("${%v}", input)
			},
			"Fn::GetAtt": func(_ string, input, _ interface{}) interface{} {
				switch v := input.(type) {
				case string:
					return "${" + v + "}"
				case []interface{}:
					parts := make([]string, len(v))
					for i, p := range v {
						parts[i] = fmt.Sprint(p)
					}
					return "${" + strings.Join(parts, ".") + "}"
				}
				return fmt.Sprintf("${GetAtt:%v}", input)
			},
			"Fn::Sub": func(_ string, input, _ interface{}) interface{} {
				switch v := input.(type) {
				case string:
					return v
				case []interface{}:
					if len(v) > 0 {
						return fmt.Sprint(v[0])
					}
				}
				return fmt.Sprintf("%v", input)
			},
			"Fn::Equals": keep,
			"Fn::Not":    keep,
			"Fn::If":     keep,
			"Fn::And":    keep,
			"Fn::Or":     keep,
		},
	}
}

// stack is template.yaml seen two ways: goformation's typed template, and the
// same processed document as plain JSON for the SAM properties goformation's
// types do not model (SQS event FunctionResponseTypes and ScalingConfig, Auth
// on events) and for walking every policy statement.
type stack struct {
	tpl *cloudformation.Template
	raw map[string]interface{}
}

// intParams are the Number parameters referenced from fields goformation
// types as integers (RetentionInDays); see symbolic. Others, such as
// CleanupFailedPaymentMinutes in environment variables, stay "${X}".
var intParams = []string{"LogRetentionDays"}

// parseMu serialises goformation: its intrinsic-tag resolution shares a map
// across calls, and parallel tests parsing at once crash with a concurrent
// map write.
var parseMu sync.Mutex

func load(t *testing.T) stack {
	t.Helper()
	parseMu.Lock()
	defer parseMu.Unlock()
	data, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatalf("read template: %v", err)
	}
	processed, err := intrinsics.ProcessYAML(data, symbolic(nil))
	if err != nil {
		t.Fatalf("process template: %v", err)
	}
	var raw map[string]interface{}
	if err := json.Unmarshal(processed, &raw); err != nil {
		t.Fatalf("decode processed template: %v", err)
	}
	numbers := map[string]float64{}
	for _, name := range intParams {
		numbers[name] = num(path(raw, "Parameters", name, "Default"))
	}
	tpl, err := goformation.OpenWithOptions(templatePath, symbolic(numbers))
	if err != nil {
		t.Fatalf("goformation cannot parse %s: %v", templatePath, err)
	}
	return stack{tpl: tpl, raw: raw}
}

// props returns the raw Properties of a logical id.
func (s stack) props(t *testing.T, logicalID string) map[string]interface{} {
	t.Helper()
	res, ok := path(s.raw, "Resources", logicalID).(map[string]interface{})
	if !ok {
		t.Fatalf("resource %s is missing", logicalID)
	}
	p, _ := res["Properties"].(map[string]interface{})
	return p
}

// path walks nested maps; nil when a key is missing.
func path(v interface{}, keys ...string) interface{} {
	for _, k := range keys {
		m, ok := v.(map[string]interface{})
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// strs reads a string or a list of strings, as IAM and SAM accept both.
func strs(v interface{}) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []interface{}:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func num(v interface{}) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string:
		var f float64
		if _, err := fmt.Sscan(x, &f); err == nil {
			return f
		}
	}
	return -1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestTemplateHeaderAndParameters(t *testing.T) {
	t.Parallel()
	s := load(t)

	if s.tpl.Transform == nil || s.tpl.Transform.String == nil || *s.tpl.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %+v, want AWS::Serverless-2016-10-31", s.tpl.Transform)
	}
	tests := []struct {
		name     string
		def      interface{}
		minValue float64 // 0: not checked
	}{
		{name: "Environment", def: "dev"},
		{name: "CleanupFailedPaymentMinutes", def: float64(60), minValue: 1},
		{name: "WorkerMaxConcurrency", def: float64(5), minValue: 2},
		{name: "AlarmEmail", def: ""},
		{name: "DownloadsDisabled", def: "false"},
	}
	for _, tc := range tests {
		p, ok := s.tpl.Parameters[tc.name]
		if !ok {
			t.Errorf("parameter %s is missing", tc.name)
			continue
		}
		if got := p.Default; !reflect.DeepEqual(got, tc.def) && num(got) != num(tc.def) {
			t.Errorf("parameter %s default = %#v, want %#v", tc.name, got, tc.def)
		}
		if tc.minValue > 0 && (p.MinValue == nil || *p.MinValue < tc.minValue) {
			t.Errorf("parameter %s MinValue = %v, want >= %v", tc.name, p.MinValue, tc.minValue)
		}
	}
}

// TestReferencesResolve checks that every Ref, GetAtt and Sub variable names
// a parameter, a resource or a pseudo parameter of the template, so a renamed
// parameter (Env became Environment, issue 8) cannot leave a dangling
// reference that only CloudFormation would reject.
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	s := load(t)
	if _, ok := s.tpl.Parameters["Env"]; ok {
		t.Error(`parameter "Env" is back; the playbook's OrdersTable names it Environment`)
	}
	known := map[string]bool{}
	for name := range s.tpl.Parameters {
		known[name] = true
	}
	resources, _ := s.raw["Resources"].(map[string]interface{})
	for id := range resources {
		known[id] = true
	}
	data, err := json.Marshal(s.raw)
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z.]+)?\}`).FindAllStringSubmatch(string(data), -1)
	if len(refs) == 0 {
		t.Fatal("no references found; the symbolic processing changed")
	}
	for _, m := range refs {
		if name := m[1]; !known[name] && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("${%s%s} names no parameter or resource", name, m[2])
		}
	}
}

func TestOrdersTable(t *testing.T) {
	t.Parallel()
	s := load(t)
	tables := s.tpl.GetAllDynamoDBTableResources()
	if got := sortedKeys(tables); !slices.Equal(got, []string{"OrdersTable"}) {
		t.Fatalf("tables = %v, want [OrdersTable]", got)
	}
	tbl := tables["OrdersTable"]

	// Issue 8: exactly the playbook's OrdersTable, so its snippet and
	// deploy scripts apply unchanged.
	if got := deref(tbl.TableName); got != "Orders-${Environment}" {
		t.Errorf("TableName = %q, want Orders-${Environment}", got)
	}
	// A failed first deploy must not leave the table behind (every retry
	// would fail with "already exists"); any later deletion keeps it.
	if got := tbl.AWSCloudFormationDeletionPolicy; got != "RetainExceptOnCreate" {
		t.Errorf("DeletionPolicy = %q, want RetainExceptOnCreate", got)
	}
	if got := tbl.AWSCloudFormationUpdateReplacePolicy; got != "Retain" {
		t.Errorf("UpdateReplacePolicy = %q, want Retain", got)
	}
	if got := deref(tbl.BillingMode); got != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode = %q, want PAY_PER_REQUEST", got)
	}
	if tbl.PointInTimeRecoverySpecification == nil || !deref(tbl.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled) {
		t.Error("point-in-time recovery is not enabled")
	}
	if len(tbl.KeySchema) != 1 || tbl.KeySchema[0].AttributeName != "id" || tbl.KeySchema[0].KeyType != "HASH" {
		t.Errorf("KeySchema = %+v, want id HASH only", tbl.KeySchema)
	}

	attrs := map[string]string{}
	for _, a := range tbl.AttributeDefinitions {
		attrs[a.AttributeName] = a.AttributeType
	}
	wantAttrs := map[string]string{"id": "S", "userId": "S", "sellerId": "S", "stripePaymentIntentId": "S", "status": "S"}
	if !reflect.DeepEqual(attrs, wantAttrs) {
		t.Errorf("AttributeDefinitions = %v, want %v", attrs, wantAttrs)
	}

	// SPEC §2: exactly the playbook's indexes, each on one string hash key, projecting ALL.
	wantGSI := map[string]string{
		"UserIndex":          "userId",
		"SellerIndex":        "sellerId",
		"PaymentIntentIndex": "stripePaymentIntentId",
		"StatusIndex":        "status",
	}
	gotGSI := map[string]string{}
	for _, g := range tbl.GlobalSecondaryIndexes {
		if len(g.KeySchema) != 1 || g.KeySchema[0].KeyType != "HASH" {
			t.Errorf("index %s KeySchema = %+v, want one HASH key", g.IndexName, g.KeySchema)
			continue
		}
		gotGSI[g.IndexName] = g.KeySchema[0].AttributeName
		if g.Projection == nil || deref(g.Projection.ProjectionType) != "ALL" {
			t.Errorf("index %s projection is not ALL", g.IndexName)
		}
	}
	if !reflect.DeepEqual(gotGSI, wantGSI) {
		t.Errorf("GSIs = %v, want %v", gotGSI, wantGSI)
	}
}

// functionTimeout is a function's Timeout, else the Globals one.
func functionTimeout(t *testing.T, s stack, name string) int {
	t.Helper()
	fn, ok := s.tpl.GetAllServerlessFunctionResources()[name]
	if !ok {
		t.Fatalf("function %s is missing", name)
	}
	if fn.Timeout != nil {
		return *fn.Timeout
	}
	if g, ok := s.tpl.Globals["Function"].(*global.Function); ok && g.Timeout != nil {
		return *g.Timeout
	}
	return 3 // Lambda's default
}

func TestQueues(t *testing.T) {
	t.Parallel()
	s := load(t)
	queues := s.tpl.GetAllSQSQueueResources()
	if got := sortedKeys(queues); !slices.Equal(got, []string{"EventsDLQ", "EventsQueue"}) {
		t.Fatalf("queues = %v, want [EventsDLQ EventsQueue]", got)
	}
	for name, want := range map[string]string{
		"EventsQueue": "orderflow-events-${Environment}.fifo",
		"EventsDLQ":   "orderflow-events-dlq-${Environment}.fifo",
	} {
		q := queues[name]
		if !deref(q.FifoQueue) {
			t.Errorf("%s is not FIFO", name)
		}
		if got := deref(q.QueueName); got != want {
			t.Errorf("%s QueueName = %q, want %q", name, got, want)
		}
	}

	dlq := queues["EventsDLQ"]
	if got := deref(dlq.MessageRetentionPeriod); got != 1209600 {
		t.Errorf("DLQ retention = %d s, want 1209600 (14 days)", got)
	}
	if deref(dlq.ContentBasedDeduplication) {
		t.Error("DLQ has content-based deduplication; moved messages keep their own ids")
	}

	q := queues["EventsQueue"]
	// Issue 11: high-throughput FIFO. perMessageGroupId requires
	// DeduplicationScope messageGroup; every duplicate we must drop shares
	// its group (see the comment in template.yaml).
	if got := deref(q.DeduplicationScope); got != "messageGroup" {
		t.Errorf("EventsQueue DeduplicationScope = %q, want messageGroup", got)
	}
	if got := deref(q.FifoThroughputLimit); got != "perMessageGroupId" {
		t.Errorf("EventsQueue FifoThroughputLimit = %q, want perMessageGroupId", got)
	}
	// `orderflow aws bootstrap` creates the queue with the same settings.
	for k, v := range sqs.HighThroughputAttributes() {
		if got := path(s.props(t, "EventsQueue"), k); got != v {
			t.Errorf("EventsQueue %s = %v, but infra/sqs creates it with %q", k, got, v)
		}
	}
	// One size limit end to end: the limit infra/sqs.Send checks, on both
	// queues, since the DLQ receives what the events queue holds plus a
	// lastError attribute.
	for name, queue := range queues {
		if got := deref(queue.MaximumMessageSize); got != sqs.MaxMessageSize {
			t.Errorf("%s MaximumMessageSize = %d, want %d, the limit infra/sqs.Send checks", name, got, sqs.MaxMessageSize)
		}
	}
	redrive, _ := q.RedrivePolicy.(map[string]interface{})
	if got := fmt.Sprint(redrive["deadLetterTargetArn"]); got != "${EventsDLQ.Arn}" {
		t.Errorf("redrive target = %q, want ${EventsDLQ.Arn}", got)
	}
	if got := num(redrive["maxReceiveCount"]); got != 5 {
		t.Errorf("redrive maxReceiveCount = %v, want 5", got)
	}
	workerTimeout := functionTimeout(t, s, "WorkerFunction")
	if vis := deref(q.VisibilityTimeout); vis < 6*workerTimeout {
		t.Errorf("EventsQueue VisibilityTimeout = %d s, want >= 6 x worker timeout (%d s) = %d", vis, workerTimeout, 6*workerTimeout)
	}
}

func TestWebhookRoute(t *testing.T) {
	t.Parallel()
	s := load(t)
	apis := s.tpl.GetAllServerlessHttpApiResources()
	if got := sortedKeys(apis); !slices.Equal(got, []string{"HttpApi"}) {
		t.Fatalf("HTTP APIs = %v, want [HttpApi]", got)
	}
	if apis["HttpApi"].Auth != nil || path(s.props(t, "HttpApi"), "Auth") != nil {
		t.Error("HttpApi has Auth; Stripe cannot authenticate, the signature is the check")
	}
	if got := len(s.tpl.GetAllServerlessApiResources()); got != 0 {
		t.Errorf("template has %d REST APIs, want none", got)
	}

	// Every HTTP route of the stack, as "Function METHOD path".
	var routes []string
	for _, fname := range sortedKeys(s.tpl.GetAllServerlessFunctionResources()) {
		events, _ := path(s.props(t, fname), "Events").(map[string]interface{})
		for _, ename := range sortedKeys(events) {
			ev := events[ename]
			typ := fmt.Sprint(path(ev, "Type"))
			if typ != "HttpApi" && typ != "Api" {
				continue
			}
			routes = append(routes, fmt.Sprintf("%s %v %v", fname, path(ev, "Properties", "Method"), path(ev, "Properties", "Path")))
			if typ == "HttpApi" {
				if got := path(ev, "Properties", "ApiId"); got != "${HttpApi}" {
					t.Errorf("%s.%s ApiId = %v, want ${HttpApi}", fname, ename, got)
				}
			}
			if auth := path(ev, "Properties", "Auth"); auth != nil && path(auth, "Authorizer") != "NONE" {
				t.Errorf("%s.%s has an authorizer: %v", fname, ename, auth)
			}
		}
	}
	// SPEC §12: the admin API, console and access check go to AdminFunction,
	// which checks bearer tokens itself; no route has a gateway authorizer.
	want := []string{
		"AdminFunction ANY /admin/{proxy+}",
		"AdminFunction ANY /console",
		"AdminFunction ANY /console/{proxy+}",
		"AdminFunction ANY /v1/access",
		"IngressFunction POST /webhooks/stripe",
	}
	sort.Strings(routes)
	if !slices.Equal(routes, want) {
		t.Errorf("routes = %v, want %v", routes, want)
	}

	url, ok := s.tpl.Outputs["WebhookUrl"]
	if !ok {
		t.Fatal("output WebhookUrl is missing")
	}
	if want := "https://${HttpApi}.execute-api.${AWS::Region}.amazonaws.com/webhooks/stripe"; url.Value != want {
		t.Errorf("WebhookUrl = %v, want %s", url.Value, want)
	}
}

func TestFunctions(t *testing.T) {
	t.Parallel()
	s := load(t)
	fns := s.tpl.GetAllServerlessFunctionResources()
	if got, want := sortedKeys(fns), sortedKeys(functionCmds); !slices.Equal(got, want) {
		t.Fatalf("functions = %v, want %v", got, want)
	}

	g, ok := s.tpl.Globals["Function"].(*global.Function)
	if !ok {
		t.Fatal("Globals.Function is missing")
	}
	if got := deref(g.MemorySize); got != 128 {
		t.Errorf("Globals MemorySize = %d, want 128", got)
	}
	if g.Timeout == nil {
		t.Error("Globals Timeout is not set")
	}
	if g.Environment == nil || g.Environment.Variables["LOG_LEVEL"] == "" {
		t.Error("Globals do not set LOG_LEVEL")
	}

	tests := []struct {
		name string
		env  map[string]string
	}{
		{name: "IngressFunction", env: map[string]string{
			"EVENTS_QUEUE_URL":          "${EventsQueue}",
			"STRIPE_WEBHOOK_SECRET_ARN": "${StripeWebhookSecret}",
		}},
		{name: "WorkerFunction", env: map[string]string{
			"ORDERS_TABLE":                   "${OrdersTable}",
			"EVENTS_QUEUE_URL":               "${EventsQueue}",
			"DLQ_URL":                        "${EventsDLQ}",
			"CLEANUP_FAILED_PAYMENT_MINUTES": "${CleanupFailedPaymentMinutes}",
		}},
		{name: "CleanupFailedPaymentsFunction", env: map[string]string{
			"ORDERS_TABLE":                   "${OrdersTable}",
			"CLEANUP_FAILED_PAYMENT_MINUTES": "${CleanupFailedPaymentMinutes}",
		}},
		{name: "ReplayFunction", env: map[string]string{
			"EVENTS_QUEUE_URL": "${EventsQueue}",
			"DLQ_URL":          "${EventsDLQ}",
			"MAX_REPLAYS":      "3",
		}},
		{name: "AdminFunction", env: map[string]string{
			"ORDERS_TABLE":            "${OrdersTable}",
			"EVENTS_QUEUE_URL":        "${EventsQueue}",
			"DLQ_URL":                 "${EventsDLQ}",
			"MAX_REPLAYS":             "3",
			"ADMIN_TOKENS_SECRET_ARN": "${AdminTokensSecret}",
			"STRIPE_SECRET_ARN":       "${StripeSecretKey}",
			"DOWNLOADS_DISABLED":      "${DownloadsDisabled}",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn := fns[tc.name]
			if got := deref(fn.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime = %q, want provided.al2023", got)
			}
			if !slices.Equal(fn.Architectures, []string{"arm64"}) {
				t.Errorf("Architectures = %v, want [arm64]", fn.Architectures)
			}
			if got := deref(fn.Handler); got != "bootstrap" {
				t.Errorf("Handler = %q, want bootstrap", got)
			}
			if fn.CodeUri == nil || deref(fn.CodeUri.String) != "." {
				t.Errorf("CodeUri = %+v, want . (the Makefile sits at the repo root)", fn.CodeUri)
			}
			if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}
			var env map[string]string
			if fn.Environment != nil {
				env = fn.Environment.Variables
			}
			if !reflect.DeepEqual(env, tc.env) {
				t.Errorf("Environment = %v, want %v", env, tc.env)
			}
		})
	}
}

func TestWorkerSQSEvent(t *testing.T) {
	t.Parallel()
	s := load(t)
	events, _ := path(s.props(t, "WorkerFunction"), "Events").(map[string]interface{})
	var sqsEvents []interface{}
	for _, ev := range events {
		if path(ev, "Type") == "SQS" {
			sqsEvents = append(sqsEvents, path(ev, "Properties"))
		}
	}
	if len(sqsEvents) != 1 {
		t.Fatalf("worker has %d SQS events, want 1", len(sqsEvents))
	}
	p := sqsEvents[0]
	if got := path(p, "Queue"); got != "${EventsQueue.Arn}" {
		t.Errorf("Queue = %v, want ${EventsQueue.Arn}", got)
	}
	if got := num(path(p, "BatchSize")); got != 10 {
		t.Errorf("BatchSize = %v, want 10", got)
	}
	if got := strs(path(p, "FunctionResponseTypes")); !slices.Contains(got, "ReportBatchItemFailures") {
		t.Errorf("FunctionResponseTypes = %v, want ReportBatchItemFailures", got)
	}
	if got := path(p, "ScalingConfig", "MaximumConcurrency"); got != "${WorkerMaxConcurrency}" {
		t.Errorf("ScalingConfig.MaximumConcurrency = %v, want ${WorkerMaxConcurrency}", got)
	}
	// Other functions are not fed by the queue: only the worker consumes it.
	for _, fname := range sortedKeys(s.tpl.GetAllServerlessFunctionResources()) {
		if fname == "WorkerFunction" {
			continue
		}
		evs, _ := path(s.props(t, fname), "Events").(map[string]interface{})
		for ename, ev := range evs {
			if path(ev, "Type") == "SQS" {
				t.Errorf("%s.%s consumes a queue; only WorkerFunction may", fname, ename)
			}
		}
	}
}

func TestCleanupSchedule(t *testing.T) {
	t.Parallel()
	s := load(t)
	schedules := s.tpl.GetAllSchedulerScheduleResources()
	if len(schedules) != 1 {
		t.Fatalf("template has %d schedules, want 1", len(schedules))
	}
	for name, sch := range schedules {
		if sch.ScheduleExpression != "rate(5 minutes)" {
			t.Errorf("%s ScheduleExpression = %q, want rate(5 minutes)", name, sch.ScheduleExpression)
		}
		tgt := sch.Target
		if tgt == nil {
			t.Fatalf("%s has no target", name)
		}
		if tgt.Arn != "${EventsQueue.Arn}" {
			t.Errorf("%s target = %q, want ${EventsQueue.Arn}", name, tgt.Arn)
		}
		if tgt.SqsParameters == nil || deref(tgt.SqsParameters.MessageGroupId) != domain.CleanupGroup {
			t.Errorf("%s MessageGroupId = %+v, want %q", name, tgt.SqsParameters, domain.CleanupGroup)
		}
		var body map[string]interface{}
		if err := json.Unmarshal([]byte(deref(tgt.Input)), &body); err != nil {
			t.Errorf("%s Input %q is not JSON: %v", name, deref(tgt.Input), err)
		}
		// The queue deduplicates by content for as long as the schedule's
		// period: each run's body must differ, or SQS drops every run after
		// the first as a duplicate. Scheduler fills in the scheduled time.
		want := map[string]interface{}{"type": domain.EventCleanupRun, "scheduledTime": "<aws.scheduler.scheduled-time>"}
		if !reflect.DeepEqual(body, want) {
			t.Errorf("%s body = %v, want %v", name, body, want)
		}

		// The schedule's role may send to the events queue and do nothing else.
		roleID, ok := strings.CutSuffix(strings.TrimPrefix(tgt.RoleArn, "${"), ".Arn}")
		if !ok {
			t.Fatalf("%s RoleArn = %q, want ${<Role>.Arn}", name, tgt.RoleArn)
		}
		role, err := s.tpl.GetIAMRoleWithName(roleID)
		if err != nil {
			t.Fatalf("%s role %s: %v", name, roleID, err)
		}
		var principals []string
		trust, _ := path(role.AssumeRolePolicyDocument, "Statement").([]interface{})
		for _, st := range trust {
			principals = append(principals, strs(path(st, "Principal", "Service"))...)
		}
		if !slices.Equal(principals, []string{"scheduler.amazonaws.com"}) {
			t.Errorf("role %s is assumed by %v, want scheduler.amazonaws.com only", roleID, principals)
		}
		if len(role.ManagedPolicyArns) != 0 {
			t.Errorf("role %s has managed policies %v", roleID, role.ManagedPolicyArns)
		}
		wantGrants := []string{"sqs:SendMessage on ${EventsQueue.Arn}"}
		if got := grants(t, s, roleID); !slices.Equal(got, wantGrants) {
			t.Errorf("role %s grants %v, want %v", roleID, got, wantGrants)
		}
	}

	// EventBridge Scheduler sends no deduplication id, so a FIFO target must
	// deduplicate by content or every send is rejected.
	q := s.tpl.GetAllSQSQueueResources()["EventsQueue"]
	if q == nil || !deref(q.ContentBasedDeduplication) {
		t.Error("EventsQueue lacks ContentBasedDeduplication, which Scheduler needs for a FIFO target")
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	s := load(t)
	secrets := s.tpl.GetAllSecretsManagerSecretResources()
	if got, want := sortedKeys(secrets), []string{"AdminTokensSecret", "StripeSecretKey", "StripeWebhookSecret"}; !slices.Equal(got, want) {
		t.Fatalf("secrets = %v, want %v", got, want)
	}
	// SPEC §12: no token configured, so the admin API answers 404 until an
	// operator adds one; the shape is the one the function reads.
	var tokensDoc map[string][]interface{}
	if err := json.Unmarshal([]byte(deref(secrets["AdminTokensSecret"].SecretString)), &tokensDoc); err != nil ||
		len(tokensDoc) != 1 || tokensDoc["adminTokens"] == nil || len(tokensDoc["adminTokens"]) != 0 {
		t.Errorf(`AdminTokensSecret placeholder = %s, want {"adminTokens":[]}`, deref(secrets["AdminTokensSecret"].SecretString))
	}
	key := secrets["StripeSecretKey"]
	var keyDoc struct {
		SecretKey string `json:"secretKey"`
	}
	if err := json.Unmarshal([]byte(deref(key.SecretString)), &keyDoc); err != nil || !strings.HasPrefix(keyDoc.SecretKey, "sk_") {
		t.Error(`StripeSecretKey placeholder is not {"secretKey":"sk_..."}`)
	}
	hook := secrets["StripeWebhookSecret"]
	var hookDoc struct {
		WebhookSecrets []string `json:"webhookSecrets"`
	}
	if err := json.Unmarshal([]byte(deref(hook.SecretString)), &hookDoc); err != nil || len(hookDoc.WebhookSecrets) == 0 || !strings.HasPrefix(hookDoc.WebhookSecrets[0], "whsec_") {
		t.Error(`StripeWebhookSecret placeholder is not {"webhookSecrets":["whsec_..."]}`)
	}
	for name, sec := range secrets {
		if !strings.Contains(deref(sec.Description), "after deploy") {
			t.Errorf("%s description does not say to set the value after deploy", name)
		}
	}
	for name, want := range map[string]string{
		"StripeSecretKeyArn":     "${StripeSecretKey}",
		"StripeWebhookSecretArn": "${StripeWebhookSecret}",
		"AdminTokensSecretArn":   "${AdminTokensSecret}",
		"OrdersTableName":        "${OrdersTable}",
		"EventsQueueUrl":         "${EventsQueue}",
		"EventsDLQUrl":           "${EventsDLQ}",
	} {
		if got := s.tpl.Outputs[name].Value; got != want {
			t.Errorf("output %s = %v, want %s", name, got, want)
		}
	}
}

func TestDLQAlarm(t *testing.T) {
	t.Parallel()
	s := load(t)
	topics := s.tpl.GetAllSNSTopicResources()
	var found bool
	for name, a := range s.tpl.GetAllCloudWatchAlarmResources() {
		var onDLQ bool
		for _, d := range a.Dimensions {
			onDLQ = onDLQ || (d.Name == "QueueName" && d.Value == "${EventsDLQ.QueueName}")
		}
		if deref(a.Namespace) != "AWS/SQS" || deref(a.MetricName) != "ApproximateNumberOfMessagesVisible" || !onDLQ {
			continue
		}
		found = true
		if a.ComparisonOperator != "GreaterThanOrEqualToThreshold" || deref(a.Threshold) != 1 {
			t.Errorf("%s fires on %s %v, want GreaterThanOrEqualToThreshold 1", name, a.ComparisonOperator, deref(a.Threshold))
		}
		var toTopic bool
		for _, action := range a.AlarmActions {
			id := strings.TrimSuffix(strings.TrimPrefix(action, "${"), "}")
			_, toTopic = topics[id]
			if toTopic {
				break
			}
		}
		if !toTopic {
			t.Errorf("%s AlarmActions %v name no SNS topic of the template", name, a.AlarmActions)
		}
	}
	if !found {
		t.Error("no alarm on EventsDLQ ApproximateNumberOfMessagesVisible")
	}

	subs := s.tpl.GetAllSNSSubscriptionResources()
	if len(subs) != 1 {
		t.Fatalf("template has %d SNS subscriptions, want 1 (the optional AlarmEmail)", len(subs))
	}
	for name, sub := range subs {
		if sub.Protocol != "email" || deref(sub.Endpoint) != "${AlarmEmail}" {
			t.Errorf("%s = %s to %s, want email to ${AlarmEmail}", name, sub.Protocol, deref(sub.Endpoint))
		}
		if sub.AWSCloudFormationCondition == "" {
			t.Errorf("%s has no Condition; it must exist only when AlarmEmail is set", name)
		} else if _, ok := s.tpl.Conditions[sub.AWSCloudFormationCondition]; !ok {
			t.Errorf("%s condition %s is not defined", name, sub.AWSCloudFormationCondition)
		}
	}
}

// TestPaymentAlarms checks playbook §10 as SPEC §11 delivers it: an alarm to
// the SNS topic on each suspicious-payment metric, read without dimensions
// (the recorder publishes each also without), firing on one occurrence.
func TestPaymentAlarms(t *testing.T) {
	t.Parallel()
	s := load(t)
	byMetric := map[string][]string{}
	for _, name := range sortedKeys(s.tpl.GetAllCloudWatchAlarmResources()) {
		a := s.tpl.GetAllCloudWatchAlarmResources()[name]
		if deref(a.Namespace) == "orderflow" {
			byMetric[deref(a.MetricName)] = append(byMetric[deref(a.MetricName)], name)
		}
	}
	topics := s.tpl.GetAllSNSTopicResources()
	for _, metric := range []string{"RequiresReviewFlagged", "DisputeOpened", "DuplicatePayment", "RefundFailed"} {
		t.Run(metric, func(t *testing.T) {
			names := byMetric[metric]
			if len(names) != 1 {
				t.Fatalf("alarms on orderflow/%s: %v, want exactly one", metric, names)
			}
			a := s.tpl.GetAllCloudWatchAlarmResources()[names[0]]
			if len(a.Dimensions) != 0 {
				t.Errorf("Dimensions = %+v, want none: the alarm must watch the dimensionless series", a.Dimensions)
			}
			if deref(a.Statistic) != "Sum" || deref(a.Period) != 300 || a.EvaluationPeriods != 1 {
				t.Errorf("Statistic %s, Period %d, EvaluationPeriods %d; want Sum over one period of 300 s",
					deref(a.Statistic), deref(a.Period), a.EvaluationPeriods)
			}
			if a.ComparisonOperator != "GreaterThanOrEqualToThreshold" || deref(a.Threshold) != 1 {
				t.Errorf("fires on %s %v, want GreaterThanOrEqualToThreshold 1", a.ComparisonOperator, deref(a.Threshold))
			}
			if got := deref(a.TreatMissingData); got != "notBreaching" {
				t.Errorf("TreatMissingData = %q, want notBreaching (no event, no data point)", got)
			}
			if len(a.AlarmActions) != 1 {
				t.Fatalf("AlarmActions = %v, want the alarm topic", a.AlarmActions)
			}
			if _, ok := topics[strings.Trim(a.AlarmActions[0], "${}")]; !ok {
				t.Errorf("AlarmActions %v name no SNS topic of the template", a.AlarmActions)
			}
		})
	}
}

// TestAlarmsReachSomeone checks that an empty AlarmEmail is said loudly: the
// stack's outputs name who the alarms reach, and say NOBODY when no one.
func TestAlarmsReachSomeone(t *testing.T) {
	t.Parallel()
	s := load(t)
	out, ok := s.tpl.Outputs["AlarmNotifications"]
	if !ok {
		t.Fatal("output AlarmNotifications is missing")
	}
	branches, _ := path(out.Value, "Fn::If").([]interface{})
	if len(branches) != 3 || branches[0] != "HasAlarmEmail" {
		t.Fatalf("AlarmNotifications = %v, want Fn::If on HasAlarmEmail", out.Value)
	}
	if set := fmt.Sprint(branches[1]); !strings.Contains(set, "${AlarmEmail}") {
		t.Errorf("with an address the output says %q, want it to name ${AlarmEmail}", set)
	}
	if unset := fmt.Sprint(branches[2]); !strings.HasPrefix(unset, "NOBODY") || !strings.Contains(unset, "AlarmEmail=") {
		t.Errorf("without an address the output says %q, want NOBODY and how to set AlarmEmail", unset)
	}
	cond, _ := path(s.raw, "Conditions", "HasAlarmEmail").(map[string]interface{})
	if cond == nil || !strings.Contains(fmt.Sprint(cond), "${AlarmEmail}") {
		t.Errorf("condition HasAlarmEmail = %v, want it to test AlarmEmail", cond)
	}
}

// statement is one IAM policy statement found in the template.
type statement struct {
	owner     string
	effect    string
	actions   []string
	resources []string
}

// statements gathers every policy statement of a resource: SAM function
// Policies and IAM role Policies.
func statements(t *testing.T, s stack, logicalID string) []statement {
	t.Helper()
	p := s.props(t, logicalID)
	var docs []interface{}
	switch path(s.raw, "Resources", logicalID, "Type") {
	case "AWS::Serverless::Function":
		pol := p["Policies"]
		list, ok := pol.([]interface{})
		if !ok && pol != nil {
			t.Errorf("%s Policies is %T, want a list of inline policy documents", logicalID, pol)
		}
		for _, item := range list {
			if _, isDoc := item.(map[string]interface{}); !isDoc || path(item, "Statement") == nil {
				t.Errorf("%s policy %v is not an inline policy document; managed policies and SAM templates hide their scope", logicalID, item)
				continue
			}
			docs = append(docs, item)
		}
	case "AWS::IAM::Role":
		list, _ := p["Policies"].([]interface{})
		for _, item := range list {
			docs = append(docs, path(item, "PolicyDocument"))
		}
	}
	var out []statement
	for _, doc := range docs {
		sts := path(doc, "Statement")
		list, ok := sts.([]interface{})
		if !ok {
			list = []interface{}{sts}
		}
		for _, st := range list {
			out = append(out, statement{
				owner:     logicalID,
				effect:    fmt.Sprint(path(st, "Effect")),
				actions:   strs(path(st, "Action")),
				resources: strs(path(st, "Resource")),
			})
		}
	}
	return out
}

// grants lists "action on resource" for every Allow statement of a resource, sorted.
func grants(t *testing.T, s stack, logicalID string) []string {
	t.Helper()
	var out []string
	for _, st := range statements(t, s, logicalID) {
		if st.effect != "Allow" {
			continue
		}
		for _, a := range st.actions {
			for _, r := range st.resources {
				out = append(out, a+" on "+r)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

var scopedResource = regexp.MustCompile(`^\$\{[A-Za-z0-9]+(\.[A-Za-z]+)?\}(/index/\*)?$`)

// checkStatement rejects wildcard actions and any resource that is not a
// reference to one of the template's own resources.
func checkStatement(st statement, known map[string]bool) error {
	var problems []string
	if len(st.actions) == 0 {
		problems = append(problems, "no actions")
	}
	for _, a := range st.actions {
		if strings.Contains(a, "*") {
			problems = append(problems, fmt.Sprintf("wildcard action %q", a))
		}
	}
	if len(st.resources) == 0 {
		problems = append(problems, "no resources")
	}
	for _, r := range st.resources {
		if !scopedResource.MatchString(r) {
			problems = append(problems, fmt.Sprintf("resource %q is not scoped to a template resource", r))
			continue
		}
		id := strings.TrimPrefix(r, "${")
		id = id[:strings.IndexAny(id, ".}")]
		if !known[id] {
			problems = append(problems, fmt.Sprintf("resource %q names no resource of the template", r))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func TestCheckStatementRejectsWildcards(t *testing.T) {
	t.Parallel()
	known := map[string]bool{"EventsQueue": true, "OrdersTable": true}
	tests := []struct {
		name    string
		st      statement
		wantErr bool
	}{
		{name: "scoped", st: statement{actions: []string{"sqs:SendMessage"}, resources: []string{"${EventsQueue.Arn}"}}},
		{name: "index", st: statement{actions: []string{"dynamodb:Query"}, resources: []string{"${OrdersTable.Arn}/index/*"}}},
		{name: "star action", st: statement{actions: []string{"sqs:*"}, resources: []string{"${EventsQueue.Arn}"}}, wantErr: true},
		{name: "all actions", st: statement{actions: []string{"*"}, resources: []string{"${EventsQueue.Arn}"}}, wantErr: true},
		{name: "star resource", st: statement{actions: []string{"sqs:SendMessage"}, resources: []string{"*"}}, wantErr: true},
		{name: "account-wide arn", st: statement{actions: []string{"sqs:SendMessage"}, resources: []string{"arn:aws:sqs:*:*:*"}}, wantErr: true},
		{name: "unknown resource", st: statement{actions: []string{"sqs:SendMessage"}, resources: []string{"${OtherQueue.Arn}"}}, wantErr: true},
		{name: "empty", st: statement{}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := checkStatement(tc.st, known); (err != nil) != tc.wantErr {
				t.Errorf("checkStatement(%+v) = %v, wantErr %v", tc.st, err, tc.wantErr)
			}
		})
	}
}

func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	s := load(t)
	resources, _ := s.raw["Resources"].(map[string]interface{})
	known := map[string]bool{}
	for id := range resources {
		known[id] = true
	}

	// No policy anywhere in the template may use a wildcard.
	for _, id := range sortedKeys(resources) {
		for _, st := range statements(t, s, id) {
			if err := checkStatement(st, known); err != nil {
				t.Errorf("%s: %v", id, err)
			}
		}
		if arns := path(resources[id], "Properties", "ManagedPolicyArns"); arns != nil {
			t.Errorf("%s attaches managed policies %v", id, arns)
		}
	}

	table := []string{"${OrdersTable.Arn}", "${OrdersTable.Arn}/index/*"}
	on := func(resources []string, actions ...string) []string {
		var out []string
		for _, a := range actions {
			for _, r := range resources {
				out = append(out, a+" on "+r)
			}
		}
		return out
	}
	tests := []struct {
		name string
		want []string
	}{
		{name: "IngressFunction", want: slices.Concat(
			on([]string{"${EventsQueue.Arn}"}, "sqs:SendMessage"),
			on([]string{"${StripeWebhookSecret}"}, "secretsmanager:GetSecretValue"),
		)},
		{name: "WorkerFunction", want: slices.Concat(
			on(table, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:Scan"),
			on([]string{"${EventsQueue.Arn}"}, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"),
			on([]string{"${EventsDLQ.Arn}", "${EventsQueue.Arn}"}, "sqs:SendMessage"),
			on([]string{"${WorkerLogGroup.Arn}"}, "logs:CreateLogStream", "logs:PutLogEvents"),
		)},
		{name: "CleanupFailedPaymentsFunction", want: on(table, "dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem")},
		{name: "ReplayFunction", want: slices.Concat(
			on([]string{"${EventsDLQ.Arn}"}, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"),
			on([]string{"${EventsQueue.Arn}"}, "sqs:SendMessage"),
		)},
		// Scan beyond the brief's GetItem/Query/UpdateItem: the review queue
		// filters on requiresReview, which has no index.
		{name: "AdminFunction", want: slices.Concat(
			on(table, "dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:Scan"),
			on([]string{"${EventsQueue.Arn}"}, "sqs:SendMessage"),
			on([]string{"${EventsDLQ.Arn}"}, "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"),
			on([]string{"${AdminTokensSecret}", "${StripeSecretKey}"}, "secretsmanager:GetSecretValue"),
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sort.Strings(tc.want)
			if got := grants(t, s, policyOwner(t, s, tc.name)); !slices.Equal(got, tc.want) {
				t.Errorf("grants differ\n got: %v\nwant: %v", got, tc.want)
			}
		})
	}
}

// policyOwner is the resource whose policies grant a function its
// permissions: its explicit role, else the function itself (SAM turns its
// Policies into the role it generates). A function with a role must not also
// list Policies, which SAM would ignore.
func policyOwner(t *testing.T, s stack, function string) string {
	t.Helper()
	fn := s.tpl.GetAllServerlessFunctionResources()[function]
	if fn == nil {
		t.Fatalf("function %s is missing", function)
	}
	if fn.Role == nil {
		return function
	}
	if fn.Policies != nil {
		t.Errorf("%s has both Role and Policies; SAM ignores Policies when Role is set", function)
	}
	role, ok := strings.CutSuffix(strings.TrimPrefix(*fn.Role, "${"), ".Arn}")
	if !ok {
		t.Fatalf("%s Role = %q, want ${<Role>.Arn} of a role in the template", function, *fn.Role)
	}
	return role
}

// TestQueueConsumersHaveExplicitRoles: SAM attaches the managed
// AWSLambdaSQSQueueExecutionRole (SQS actions on every queue) to the role it
// generates for any function with an SQS event, behind the template's own
// policies (aws/serverless-application-model#2118). Only an explicit role
// keeps such a function scoped to its queue.
func TestQueueConsumersHaveExplicitRoles(t *testing.T) {
	t.Parallel()
	s := load(t)
	for _, name := range sortedKeys(s.tpl.GetAllServerlessFunctionResources()) {
		events, _ := path(s.props(t, name), "Events").(map[string]interface{})
		consumes := false
		for _, ev := range events {
			consumes = consumes || path(ev, "Type") == "SQS"
		}
		if !consumes {
			continue
		}
		owner := policyOwner(t, s, name)
		if owner == name {
			t.Errorf("%s has an SQS event but no explicit Role: SAM would add AWSLambdaSQSQueueExecutionRole (sqs:* actions on \"*\")", name)
			continue
		}
		role, err := s.tpl.GetIAMRoleWithName(owner)
		if err != nil {
			t.Fatalf("%s role %s: %v", name, owner, err)
		}
		var principals []string
		trust, _ := path(role.AssumeRolePolicyDocument, "Statement").([]interface{})
		for _, st := range trust {
			principals = append(principals, strs(path(st, "Principal", "Service"))...)
		}
		if !slices.Equal(principals, []string{"lambda.amazonaws.com"}) {
			t.Errorf("role %s is assumed by %v, want lambda.amazonaws.com only", owner, principals)
		}
		if len(role.ManagedPolicyArns) != 0 || role.PermissionsBoundary != nil {
			t.Errorf("role %s has managed policies %v", owner, role.ManagedPolicyArns)
		}
	}
	if fn := s.tpl.GetAllServerlessFunctionResources()["WorkerFunction"]; fn == nil || deref(fn.Role) != "${WorkerRole.Arn}" {
		t.Errorf("WorkerFunction Role = %v, want ${WorkerRole.Arn}", fn.Role)
	}
}

// TestLogGroups: every function writes to a log group the stack owns, with a
// retention; Lambda writes to /aws/lambda/<FunctionName>, so the names must
// match, and the function must wait for its group.
func TestLogGroups(t *testing.T) {
	t.Parallel()
	s := load(t)
	groups := s.tpl.GetAllLogsLogGroupResources()
	byName := map[string]string{}
	for id, g := range groups {
		byName[deref(g.LogGroupName)] = id
		if got := path(s.props(t, id), "RetentionInDays"); got != "${LogRetentionDays}" {
			t.Errorf("%s RetentionInDays = %v, want ${LogRetentionDays}", id, got)
		}
	}
	for _, name := range sortedKeys(s.tpl.GetAllServerlessFunctionResources()) {
		fn := s.tpl.GetAllServerlessFunctionResources()[name]
		fname := deref(fn.FunctionName)
		if !strings.HasPrefix(fname, "orderflow-${Environment}-") {
			t.Errorf("%s FunctionName = %q, want orderflow-${Environment}-<name>", name, fname)
			continue
		}
		id, ok := byName["/aws/lambda/"+fname]
		if !ok {
			t.Errorf("%s: no log group named /aws/lambda/%s; Lambda would create one that keeps logs forever", name, fname)
			continue
		}
		if !slices.Contains(fn.AWSCloudFormationDependsOn, id) {
			t.Errorf("%s DependsOn = %v, want %s so no invocation creates the group first", name, fn.AWSCloudFormationDependsOn, id)
		}
		delete(byName, "/aws/lambda/"+fname)
	}
	if len(byName) != 0 {
		t.Errorf("log groups of no function: %v", byName)
	}
	p, ok := s.tpl.Parameters["LogRetentionDays"]
	if !ok || num(p.Default) <= 0 {
		t.Errorf("parameter LogRetentionDays = %+v, want a default retention", p)
	}
}

// lambdaMk is lambda.mk's function list and each function's command, read from its text.
func lambdaMk(t *testing.T) (functions []string, cmds map[string]string) {
	t.Helper()
	data, err := os.ReadFile(lambdaMkPath)
	if err != nil {
		t.Fatalf("read lambda.mk: %v", err)
	}
	text := string(data)
	list := regexp.MustCompile(`(?m)^LAMBDA_FUNCTIONS\s*:?=\s*(.+)$`).FindStringSubmatch(text)
	if list == nil {
		t.Fatal("lambda.mk has no LAMBDA_FUNCTIONS line")
	}
	functions = strings.Fields(list[1])
	cmds = map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^LAMBDA_CMD_(\w+)\s*:?=\s*(\S+)\s*$`).FindAllStringSubmatch(text, -1) {
		cmds[m[1]] = m[2]
	}
	// Hand-written build-<Name> targets would bypass the list: count them too.
	for _, m := range regexp.MustCompile(`(?m)^build-(\w+)\s*:`).FindAllStringSubmatch(text, -1) {
		if !slices.Contains(functions, m[1]) {
			functions = append(functions, m[1])
		}
	}
	sort.Strings(functions)
	return functions, cmds
}

func TestLambdaMkMatchesTemplate(t *testing.T) {
	t.Parallel()
	s := load(t)
	inTemplate := sortedKeys(s.tpl.GetAllServerlessFunctionResources())
	functions, cmds := lambdaMk(t)
	if !slices.Equal(functions, inTemplate) {
		t.Errorf("lambda.mk builds %v, template has %v", functions, inTemplate)
	}
	if !reflect.DeepEqual(cmds, functionCmds) {
		t.Errorf("lambda.mk commands = %v, want %v", cmds, functionCmds)
	}
}

func TestLambdaMkTargets(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIPPED: GNU make is not on PATH, so lambda.mk's targets cannot be dry-run; install make to run this check")
	}
	s := load(t)
	inTemplate := sortedKeys(s.tpl.GetAllServerlessFunctionResources())

	// The build-<Name> targets make itself knows (its database, not our regexes).
	out, _ := exec.Command("make", "-pRrq", "-f", filepath.Join(repoRoot, "lambda.mk"), ":").Output()
	var targets []string
	for _, m := range regexp.MustCompile(`(?m)^build-(\w+):`).FindAllStringSubmatch(string(out), -1) {
		targets = append(targets, m[1])
	}
	sort.Strings(targets)
	targets = slices.Compact(targets)
	if !slices.Equal(targets, inTemplate) {
		t.Errorf("make knows build-%v, template has %v", targets, inTemplate)
	}

	flags := "GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc,nosqlite -trimpath -ldflags='-s -w'"
	artifacts := t.TempDir()
	for _, name := range inTemplate {
		cmd := exec.Command("make", "-n", "-f", "lambda.mk", "build-"+name, "ARTIFACTS_DIR="+artifacts)
		cmd.Dir = repoRoot
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("make -n build-%s: %v\n%s", name, err, got)
			continue
		}
		want := fmt.Sprintf(`%s -o "%s/bootstrap" %s`, flags, artifacts, functionCmds[name])
		if !strings.Contains(string(got), want) {
			t.Errorf("build-%s runs\n%s\nwant a line containing\n%s", name, got, want)
		}
	}

	cmd := exec.Command("make", "-n", "-f", "lambda.mk", "lambda-build")
	cmd.Dir = repoRoot
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n lambda-build: %v\n%s", err, got)
	}
	for _, name := range inTemplate {
		want := fmt.Sprintf(`%s -o "bin/lambda/%s/bootstrap" %s`, flags, name, functionCmds[name])
		if !strings.Contains(string(got), want) {
			t.Errorf("lambda-build does not build %s into bin/lambda/%s/bootstrap:\n%s", name, name, got)
		}
	}

	// sam build always sets ARTIFACTS_DIR; without it the target must refuse
	// rather than write /bootstrap.
	cmd = exec.Command("make", "-s", "-f", "lambda.mk", "build-WorkerFunction", "ARTIFACTS_DIR=")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("build-WorkerFunction without ARTIFACTS_DIR succeeded:\n%s", out)
	}
}
