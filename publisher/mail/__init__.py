"""From an issued digest to mail accepted by a server.

- `tokens`: signed unsubscribe tokens;
- `messages`: one message per subscriber, built from a per-digest template;
- `transports`: where a finished message goes (outbox folder or SMTP);
- `delivery`: the send loop over the ledger, one commit per accepted message.
"""
