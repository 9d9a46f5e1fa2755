package sqlite

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/orderflow/orderflow/domain"
)

// Queue defaults and limits, as in SQS.
const (
	// DefaultVisibilityTimeout applies when QueueConfig leaves it zero.
	DefaultVisibilityTimeout = 30 * time.Second
	// DefaultDedupWindow is SQS's fixed five-minute deduplication interval.
	DefaultDedupWindow = 5 * time.Minute
	// MaxBatch is the most messages one Receive returns.
	MaxBatch = 10
	// pollInterval is how often a long-polling Receive looks again.
	pollInterval = 50 * time.Millisecond
	// scanPage is how many candidate rows Receive reads per query.
	scanPage = 32
	// MaxMessageSize is SQS's limit on one message: the body plus every
	// attribute's name, data type ("String") and value, in bytes.
	MaxMessageSize = 262144
)

// attrDataType is the SQS data type every attribute is sent with; SQS counts
// it towards MaxMessageSize.
const attrDataType = "String"

var (
	_ domain.Queue        = (*Queue)(nil)
	_ domain.Inspector    = (*Queue)(nil)
	_ domain.BatchDeleter = (*Queue)(nil)
)

// QueueConfig configures one FIFO queue in the database.
type QueueConfig struct {
	Name              string        // e.g. "events", "events-dlq"
	VisibilityTimeout time.Duration // default 30s
	// MaxReceives > 0: a message received this many times is moved to
	// DeadLetterQueue on the next receive attempt (SQS redrive); 0 = never.
	MaxReceives     int
	DeadLetterQueue string        // name of the DLQ, another queue in the same DB
	DedupWindow     time.Duration // default 5m
	Clock           domain.Clock  // default domain.SystemClock{}
}

func (c *QueueConfig) validate() error {
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = DefaultDedupWindow
	}
	if c.Clock == nil {
		c.Clock = domain.SystemClock{}
	}
	var problems []string
	if strings.TrimSpace(c.Name) == "" {
		problems = append(problems, "name is required")
	}
	if c.VisibilityTimeout < 0 {
		problems = append(problems, "visibility timeout must not be negative")
	}
	if c.DedupWindow < 0 {
		problems = append(problems, "dedup window must not be negative")
	}
	if c.MaxReceives < 0 {
		problems = append(problems, "max receives must not be negative")
	}
	if c.MaxReceives > 0 && c.DeadLetterQueue == "" {
		problems = append(problems, "max receives needs a dead-letter queue")
	}
	if c.DeadLetterQueue != "" && c.DeadLetterQueue == c.Name {
		problems = append(problems, "the dead-letter queue must be another queue")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: queue %q: %s", domain.ErrInvalid, c.Name, strings.Join(problems, "; "))
	}
	return nil
}

// Queue is a durable FIFO queue with SQS FIFO semantics, stored in the
// queue_messages table. A message is in flight while visible_at is in the
// future; its group is blocked until it is deleted or becomes visible again.
type Queue struct {
	db  *DB
	cfg QueueConfig
	// prunedAt is when Send last deleted expired dedup entries (Unix ns,
	// the queue's clock); only the group committer touches it.
	prunedAt atomic.Int64
}

// pruneEvery is how often Send deletes expired dedup entries; an expired
// entry still there is ignored, so pruning only bounds the table.
const pruneEvery = time.Second

// NewQueue returns the queue cfg.Name on db; queues are created on first use.
func NewQueue(db *DB, cfg QueueConfig) (*Queue, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return &Queue{db: db, cfg: cfg}, nil
}

// Name is the queue's name in the database.
func (q *Queue) Name() string { return q.cfg.Name }

// Send enqueues m. A dedup id seen within the dedup window is accepted, enqueues
// nothing and returns the first message's id. Without a dedup id the body's
// SHA-256 is used, as SQS content-based deduplication does.
//
// Send refuses (ErrInvalid, permanent) what SQS would refuse: a group or
// dedup id outside SQS's rule and a message over MaxMessageSize, so a
// producer tested on SQLite cannot fail on SQS.
func (q *Queue) Send(ctx context.Context, m domain.OutgoingMessage) (string, error) {
	if err := checkOutgoing(m); err != nil {
		return "", domain.Permanent(fmt.Errorf("sqlite: send to %s: %w", q.cfg.Name, err))
	}
	dedup := m.DedupID
	if dedup == "" {
		sum := sha256.Sum256(m.Body)
		dedup = hex.EncodeToString(sum[:])
	}
	attrs, err := encodeAttributes(m.Attributes)
	if err != nil {
		return "", fmt.Errorf("sqlite: send to %s: %w", q.cfg.Name, err)
	}
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	id := newID()
	err = q.db.writeWakes(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := q.cfg.Clock.Now().UnixNano()
		// Expired dedup rows are pruned lazily, here, under the write lock,
		// at most every pruneEvery: until then the expiry check below and
		// the upsert treat them as absent.
		if last := q.prunedAt.Load(); now-last >= int64(pruneEvery) || now < last {
			if _, err := q.db.execTx(ctx, tx, `DELETE FROM queue_dedup WHERE queue = ? AND expires_at <= ?`, q.cfg.Name, now); err != nil {
				return err
			}
			q.prunedAt.Store(now)
		}
		var first string
		err := q.db.queryRowTx(ctx, tx, `SELECT message_id FROM queue_dedup WHERE queue = ? AND dedup_id = ? AND expires_at > ?`,
			q.cfg.Name, dedup, now).Scan(&first)
		switch {
		case err == nil:
			id = first
			return nil
		case err != sql.ErrNoRows:
			return err
		}
		if _, err := q.db.execTx(ctx, tx, `INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, q.cfg.Name, id, m.GroupID, m.DedupID, body, attrs, now); err != nil {
			return err
		}
		_, err = q.db.execTx(ctx, tx, `INSERT INTO queue_dedup (queue, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (queue, dedup_id) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at`,
			q.cfg.Name, dedup, id, now+q.cfg.DedupWindow.Nanoseconds())
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqlite: send to %s: %w", q.cfg.Name, err)
	}
	return id, nil
}

// Receive returns up to n (at most 10) messages, polling until one is
// available, wait has passed or ctx ends (then it returns ctx's error). Each
// message's group is blocked until it is deleted or its visibility times out.
func (q *Queue) Receive(ctx context.Context, n int, wait time.Duration) ([]domain.Message, error) {
	n = min(max(n, 1), MaxBatch)
	deadline := time.Now().Add(wait)
	// A commit of this process that may have made messages receivable
	// wakes one waiting receiver (DB.receivable); writes of other processes
	// (the CLI) are seen by polling.
	wake := q.db.receivable(q.cfg.Name)
	for {
		msgs, err := q.receiveOnce(ctx, n)
		if len(msgs) == n {
			// A full batch: more may be waiting for another receiver.
			wakeOne(wake)
		}
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		t := time.NewTimer(min(left, pollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("sqlite: receive from %s: %w", q.cfg.Name, ctx.Err())
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

type candidate struct {
	seq int64
	msg domain.Message
}

func (q *Queue) receiveOnce(ctx context.Context, n int) ([]domain.Message, error) {
	// A cheap read first, so idle pollers do not take the write lock every
	// few milliseconds and hold up the CLI and the store.
	var ready int
	err := q.db.queryRow(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM queue_messages
		WHERE queue = ? AND visible_at <= ? LIMIT 1)`, q.cfg.Name, q.cfg.Clock.Now().UnixNano()).Scan(&ready)
	q.db.noteDamage(err)
	if err != nil {
		return nil, fmt.Errorf("sqlite: receive from %s: %w", q.cfg.Name, err)
	}
	if ready == 0 {
		return nil, nil
	}
	var picked []domain.Message
	// Through the group committer like every write of this process, so
	// receivers never wait on SQLite's busy handler for the committer (or
	// for each other), and their marks share its fsyncs. writeWait: once
	// the marks may commit, the picked messages must be returned, or they
	// would stay hidden for the visibility timeout.
	err = q.db.writeWait(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The time is read under the write lock: waiting for the lock must
		// not make the visibility decisions stale.
		now := q.cfg.Clock.Now()
		nowNS := now.UnixNano()
		picked = picked[:0]
		var pickedSeq []int64
		after := int64(0)
		for len(picked) < n {
			page, err := q.candidates(ctx, tx, nowNS, after)
			if err != nil {
				return err
			}
			for _, c := range page {
				after = c.seq
				if q.cfg.MaxReceives > 0 && c.msg.ReceiveCount >= q.cfg.MaxReceives {
					if err := q.moveToDLQ(ctx, tx, c.seq); err != nil {
						return err
					}
					continue
				}
				picked = append(picked, c.msg)
				pickedSeq = append(pickedSeq, c.seq)
				if len(picked) == n {
					break
				}
			}
			if len(page) < scanPage {
				break
			}
		}
		visibleAt := now.Add(q.cfg.VisibilityTimeout).UnixNano()
		for i := range picked {
			m := &picked[i]
			m.Receipt = newID()
			m.ReceiveCount++
			if _, err := q.db.execTx(ctx, tx, `UPDATE queue_messages SET receive_count = ?, receipt = ?, visible_at = ? WHERE seq = ?`,
				m.ReceiveCount, m.Receipt, visibleAt, pickedSeq[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: receive from %s: %w", q.cfg.Name, err)
	}
	return picked, nil
}

// candidates reads the next visible messages, oldest first, whose group has
// nothing in flight. Only a received message (receipt set) can be in flight
// (a send never makes a message invisible), so the check reads the partial
// index queue_messages_in_flight. Picks are marked only after the scan, so a group's later
// messages stay candidates in the same receive, in order.
func (q *Queue) candidates(ctx context.Context, tx *sql.Tx, nowNS, after int64) ([]candidate, error) {
	rows, err := q.db.queryTx(ctx, tx, `SELECT seq, id, group_id, dedup_id, body, attributes, sent_at, receive_count
		FROM queue_messages m
		WHERE queue = ? AND seq > ? AND visible_at <= ?
		AND NOT EXISTS (SELECT 1 FROM queue_messages f
			WHERE f.queue = m.queue AND f.group_id = m.group_id AND f.visible_at > ? AND f.receipt != '')
		ORDER BY seq LIMIT ?`, q.cfg.Name, after, nowNS, nowNS, scanPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []candidate
	for rows.Next() {
		c, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		page = append(page, c)
	}
	return page, rows.Err()
}

// moveToDLQ moves a message that reached MaxReceives to the dead-letter queue
// as SQS redrive does: same id, body, group, dedup id, attributes, sent time
// and receive count (an operator reading `dlq list` needs to see how many
// attempts were made); no dedup entry, so nothing is dropped. The
// last failure a worker recorded (RecordFailure) becomes the lastError
// attribute, so `orderflow dlq list` can say why the message is there.
func (q *Queue) moveToDLQ(ctx context.Context, tx *sql.Tx, seq int64) error {
	if _, err := q.db.execTx(ctx, tx, `INSERT INTO queue_messages (queue, id, group_id, dedup_id, body, attributes, sent_at, receive_count)
		SELECT ?, id, group_id, dedup_id, body,
			CASE WHEN last_error = '' THEN attributes ELSE json_set(attributes, '$.`+domain.AttrLastError+`', last_error) END,
			sent_at, receive_count FROM queue_messages WHERE seq = ?`,
		q.cfg.DeadLetterQueue, seq); err != nil {
		return fmt.Errorf("move to %s: %w", q.cfg.DeadLetterQueue, err)
	}
	if _, err := q.db.execTx(ctx, tx, `DELETE FROM queue_messages WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("move to %s: %w", q.cfg.DeadLetterQueue, err)
	}
	return nil
}

// RecordFailure keeps why a worker failed an in-flight message; if the
// message ends in the dead-letter queue it carries the reason as lastError.
// A stale receipt fails with ErrNotFound and changes nothing.
func (q *Queue) RecordFailure(ctx context.Context, receipt, reason string) error {
	err := q.db.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return oneRow(q.db.execTx(ctx, tx, `UPDATE queue_messages SET last_error = ? WHERE receipt = ? AND receipt != '' AND queue = ?`,
			reason, receipt, q.cfg.Name))
	})
	if errors.Is(err, errNoRow) {
		return fmt.Errorf("sqlite: record failure in %s: receipt %s: %w", q.cfg.Name, short(receipt), domain.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: record failure in %s: %w", q.cfg.Name, err)
	}
	return nil
}

// errNoRow is what oneRow answers for a statement that matched no row.
var errNoRow = errors.New("no row matched")

// oneRow turns an Exec that matched no row into errNoRow.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNoRow
	}
	return nil
}

// Delete acknowledges a received message. A receipt from an earlier receive
// of a message received again since fails with ErrNotFound.
func (q *Queue) Delete(ctx context.Context, receipt string) error {
	err := q.db.writeWakes(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return q.deleteOne(ctx, tx, receipt)
	})
	return q.deleteErr(receipt, err)
}

func (q *Queue) deleteOne(ctx context.Context, tx *sql.Tx, receipt string) error {
	return oneRow(q.db.execTx(ctx, tx, `DELETE FROM queue_messages WHERE receipt = ? AND receipt != '' AND queue = ?`, receipt, q.cfg.Name))
}

func (q *Queue) deleteErr(receipt string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errNoRow):
		return fmt.Errorf("sqlite: delete from %s: receipt %s: %w", q.cfg.Name, short(receipt), domain.ErrNotFound)
	default:
		return fmt.Errorf("sqlite: delete from %s: %w", q.cfg.Name, err)
	}
}

// DeleteBatch acknowledges several received messages in one write, so one
// commit (one fsync) for a whole processed batch instead of one per message.
// errs[i] is receipts[i]'s outcome, as Delete would answer it: a stale
// receipt fails alone and the others are still deleted.
func (q *Queue) DeleteBatch(ctx context.Context, receipts []string) []error {
	errs := make([]error, len(receipts))
	if len(receipts) == 0 {
		return errs
	}
	query := deleteBatchQuery(len(receipts))
	args := make([]any, 0, len(receipts)+1)
	args = append(args, q.cfg.Name)
	for _, r := range receipts {
		args = append(args, r)
	}
	err := q.db.writeWakes(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := q.db.queryTx(ctx, tx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		deleted := make(map[string]bool, len(receipts))
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				return err
			}
			deleted[r] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for i, r := range receipts {
			if errs[i] = nil; !deleted[r] {
				errs[i] = errNoRow
			}
		}
		return nil
	})
	for i, r := range receipts {
		if err != nil {
			errs[i] = err
		}
		errs[i] = q.deleteErr(r, errs[i])
	}
	return errs
}

// deleteBatchQuery is DeleteBatch's one statement for n receipts; RETURNING
// tells which receipts matched. The unary + on queue keeps SQLite from
// choosing an index on queue (queue_messages_seq) over the receipt index for
// the IN list: that plan walked every message of the queue for each batch, so
// a backlog made every delete slower (TestHotStatementsUseTheirIndexes).
func deleteBatchQuery(n int) string {
	return `DELETE FROM queue_messages WHERE +queue = ? AND receipt != '' AND receipt IN (?` +
		strings.Repeat(", ?", n-1) + `) RETURNING receipt`
}

// ChangeVisibility makes an in-flight message visible again after timeout (0:
// at once). A stale receipt, or a message no longer in flight, fails with
// ErrNotFound.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, timeout time.Duration) error {
	if timeout < 0 {
		return fmt.Errorf("sqlite: change visibility in %s: %w: negative timeout", q.cfg.Name, domain.ErrInvalid)
	}
	err := q.db.writeWakes(ctx, func(ctx context.Context, tx *sql.Tx) error {
		now := q.cfg.Clock.Now()
		// +queue: found by its receipt, not by walking the queue's
		// in-flight messages (TestHotStatementsUseTheirIndexes).
		return oneRow(q.db.execTx(ctx, tx, `UPDATE queue_messages SET visible_at = ?
			WHERE receipt = ? AND receipt != '' AND +queue = ? AND visible_at > ?`,
			now.Add(timeout).UnixNano(), receipt, q.cfg.Name, now.UnixNano()))
	})
	if errors.Is(err, errNoRow) {
		return fmt.Errorf("sqlite: change visibility in %s: receipt %s is stale or not in flight: %w", q.cfg.Name, short(receipt), domain.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: change visibility in %s: %w", q.cfg.Name, err)
	}
	return nil
}

// Stats counts visible and in-flight messages.
func (q *Queue) Stats(ctx context.Context) (domain.QueueStats, error) {
	var st domain.QueueStats
	now := q.cfg.Clock.Now().UnixNano()
	err := q.db.sql.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN visible_at <= ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN visible_at > ? THEN 1 ELSE 0 END), 0)
		FROM queue_messages WHERE queue = ?`, now, now, q.cfg.Name).Scan(&st.Visible, &st.InFlight)
	q.db.noteDamage(err)
	if err != nil {
		return domain.QueueStats{}, fmt.Errorf("sqlite: stats of %s: %w", q.cfg.Name, err)
	}
	return st, nil
}

// Peek returns up to n messages, oldest first, in flight or not, without
// receiving them: visibility and receive counts do not change and Receipt is
// empty.
func (q *Queue) Peek(ctx context.Context, n int) ([]domain.Message, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := q.db.sql.QueryContext(ctx, `SELECT seq, id, group_id, dedup_id, body, attributes, sent_at, receive_count
		FROM queue_messages WHERE queue = ? ORDER BY seq LIMIT ?`, q.cfg.Name, n)
	if err != nil {
		return nil, fmt.Errorf("sqlite: peek %s: %w", q.cfg.Name, err)
	}
	defer rows.Close()
	var msgs []domain.Message
	for rows.Next() {
		c, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: peek %s: %w", q.cfg.Name, err)
		}
		msgs = append(msgs, c.msg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: peek %s: %w", q.cfg.Name, err)
	}
	return msgs, nil
}

func scanMessage(rows *sql.Rows) (candidate, error) {
	var c candidate
	var attrs string
	var sentAt int64
	if err := rows.Scan(&c.seq, &c.msg.ID, &c.msg.GroupID, &c.msg.DedupID, &c.msg.Body, &attrs, &sentAt, &c.msg.ReceiveCount); err != nil {
		return candidate{}, err
	}
	c.msg.SentAt = time.Unix(0, sentAt).UTC()
	if err := json.Unmarshal([]byte(attrs), &c.msg.Attributes); err != nil {
		return candidate{}, fmt.Errorf("message %s: attributes: %w", c.msg.ID, err)
	}
	return c, nil
}

// checkOutgoing applies SQS's limits on ids and size. An empty dedup id is
// allowed: it means content-based deduplication, as on a queue with
// ContentBasedDeduplication.
func checkOutgoing(m domain.OutgoingMessage) error {
	if err := domain.CheckQueueID("group id", m.GroupID); err != nil {
		return err
	}
	if m.DedupID != "" {
		if err := domain.CheckQueueID("dedup id", m.DedupID); err != nil {
			return err
		}
	}
	if n := messageSize(m); n > MaxMessageSize {
		return fmt.Errorf("%w: %w: message is %d bytes (body and attributes), over SQS's limit of %d", domain.ErrInvalid, domain.ErrMessageTooLarge, n, MaxMessageSize)
	}
	return nil
}

// messageSize is m's size as SQS counts it: the body plus each attribute's
// name, data type and value.
func messageSize(m domain.OutgoingMessage) int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len(attrDataType) + len(v)
	}
	return n
}

func encodeAttributes(a map[string]string) (string, error) {
	if a == nil {
		a = map[string]string{}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("attributes: %w", err)
	}
	return string(b), nil
}

// newID returns a random UUID (version 4), the shape SQS ids have.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// short keeps receipts out of error text beyond a recognisable prefix.
func short(receipt string) string {
	if len(receipt) > 8 {
		return receipt[:8] + "…"
	}
	return receipt
}
