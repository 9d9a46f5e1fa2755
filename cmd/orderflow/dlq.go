package main

import (
	"strconv"

	"github.com/spf13/cobra"

	"github.com/orderflow/orderflow/domain"
	"github.com/orderflow/orderflow/infra/backend"
)

// dlqPeekLimit bounds one listing; a DLQ deeper than this is an incident
// better handled with redrive --type than by reading every line.
const dlqPeekLimit = 10000

// dlqEntry is one line of `orderflow dlq list` (SPEC §6).
type dlqEntry struct {
	MessageID    string `json:"messageId"`
	EventID      string `json:"eventId"`
	EventType    string `json:"eventType"`
	Group        string `json:"group"`
	ReceiveCount int    `json:"receiveCount"`
	ReplayCount  int    `json:"replayCount"`
	AgeSeconds   int64  `json:"ageSeconds"`
	LastError    string `json:"lastError,omitempty"`
}

func (a *app) dlqCommand() *cobra.Command {
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the dead-letter queue, one JSON line per message (playbook §3)",
		Example: "  orderflow dlq list | jq -r 'select(.eventType==\"charge.refunded\") | .eventId'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			be, err := a.open(cmd.Context(), backend.Parts{DLQ: true, ReadOnly: true})
			if err != nil {
				return err
			}
			msgs, err := be.DLQ.Peek(cmd.Context(), dlqPeekLimit)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if err := a.printJSON(a.dlqEntry(m)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	return group("dlq", "Inspect and redrive the dead-letter queue", list, a.dlqRedriveCommand())
}

func (a *app) dlqEntry(m domain.Message) dlqEntry {
	replays, _ := strconv.Atoi(m.Attributes[domain.AttrReplayCount])
	age := int64(0)
	if !m.SentAt.IsZero() {
		age = int64(a.clock.Now().Sub(m.SentAt).Seconds())
	}
	return dlqEntry{
		MessageID: m.ID, EventID: m.Attributes[domain.AttrEventID], EventType: m.Attributes[domain.AttrEventType],
		Group: m.GroupID, ReceiveCount: m.ReceiveCount, ReplayCount: replays, AgeSeconds: age,
		LastError: m.Attributes[domain.AttrLastError],
	}
}
