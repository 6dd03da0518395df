"""Notifications (issue 13): news from the ledgers, an outbox, and the channels that
carry digests to people (WeCom, DingTalk, Feishu group bots, e-mail, a JSON webhook).

- config: the policy's [notify] section and the staff contact handles it uses
- secrets: bot keys and passwords from the environment or the untracked secrets.toml
- news: what is worth telling, derived from the ledgers (a pure function of them)
- outbox: the per-machine, untracked record of what was queued and delivered
- message: the Chinese digest text, split to each platform's byte limit
- channels: signing, payloads, sending, and each platform's error codes
- deliver: one run: queue the news, then one digest per channel, paced and retried
- gitsync: `aftersales sync`, pull (ledgers merge by union), commit, push
"""
