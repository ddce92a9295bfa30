# What the bot and the boards write, in English (bridge.language: en). Each key has its twin in
# de.ftl with the same variables; the tests check both and every key the code uses.

## Days and times

weekday-mon = Mon
weekday-tue = Tue
weekday-wed = Wed
weekday-thu = Thu
weekday-fri = Fri
weekday-sat = Sat
weekday-sun = Sun

## Drivers who cannot be written to

driver-left = the driver has left the company
driver-restricted = the processing of this driver's data is restricted (a legal hold or an objection)

## Scheduled messages (!at, !every, !scheduled, !cancel)

schedule-how = !at 2027-01-04 05:55 <text>, !at 05:55 <text> (the next 05:55), !every mon-fri 05:55 <text> (days: mon … sun, ranges, lists, daily, weekdays, weekend), !scheduled, !cancel <n>
schedule-once = once, { $at }
schedule-every = every { $days } at { $time }
schedule-every-day = day
schedule-day-range = { $from }–{ $until }
schedule-passed = Not scheduled: { $at } has passed.
schedule-not-a-date = { $word } is not a date. ({ $how })
schedule-not-a-time = "{ $word }" is not a time of day (HH:MM). ({ $how })
schedule-not-days = Which days are "{ $word }"? ({ $how })
schedule-no-text = What should it say? ({ $how })
schedule-which-one = Which one? !cancel <n>, n as !scheduled lists it. ({ $how })
schedule-never = Not scheduled: it would never go.
schedule-recorded = ⏰ Scheduled #{ $id }: { $rule }, next { $next }. !scheduled lists this room's, !cancel { $id } removes it.
schedule-cancelled = ⏰ #{ $id } cancelled.
schedule-no-such = There is no #{ $id } here; !scheduled lists this room's.
schedule-none = Nothing is scheduled here.
schedule-list = ⏰ Scheduled here ({ $count }):
schedule-list-line = #{ $id } { $rule }, next { $next } — { $sender }: { $text }
schedule-skipped = ⏰ Not sent: #{ $id } was due { $at }, while the bridge was not running.
schedule-refused = ⏰ #{ $id } cancelled: { $why }.
schedule-author-unknown = its author is not known
schedule-may-not-broadcast = { $who } may not broadcast here any more
schedule-driver-unknown = the driver is not known
schedule-may-not-write = { $who } may not write to this driver any more
schedule-portal-copy = ⏰ { $sender } (scheduled): { $text }
schedule-broadcast-copy = ⏰ Scheduled by { $sender }: { $text }

## The management room

mgmt-not-permitted-ask = Sorry, you are not permitted to use the Threema bridge. Ask your administrator if you need access.
mgmt-not-permitted = Sorry, you are not permitted to use the Threema bridge.
mgmt-welcome = Hello! I bridge the dispatch desk to Threema.
    { $help }
mgmt-help =
    Commands:
    • start <Threema ID or name> — open the chat with a driver (you are invited)
    • find <text> — search drivers by name or Threema ID
    • status — the bridge's state: Gateway credits, queues
    • status <message link> (or as a reply to a message) — who received and read it, when
    • sync — read the employee directory now (admins)
    • audit [employee, user or Threema ID] — the newest audit entries (admins)
    • broadcast [live] <selection> — a room whose messages go to all selected drivers, e.g. broadcast depot=North AND shift=late, broadcast vehicle=12|17|40, broadcast DRIVER01, "Erika Muster", broadcast space:North NOT team=B, broadcast list:<name>
    • select <selection> — who a selection reaches, who not, what it costs
    • save-list <name> <selection> — a named selection, used as list:<name>
    • accept-key <Threema ID> — trust a driver's changed key and deliver the messages held until then (admins)
    • hold set <employee ID, Threema ID, Matrix ID or room> --reason <text> [--case <reference>], hold release <…>, hold list [all] — legal holds: what they cover is neither erased nor pruned (admins)
    • erase <employee ID, Threema ID or Matrix ID> [--dry-run] [--force] — erase a driver from the homeserver and the bridge, or a dispatcher from the bridge (admins; see the README)
    • export <employee ID, Threema ID or Matrix ID> [--dry-run] — everything held about a person, as a ZIP posted here (admins)
    • requests — open export and erasure requests and when they are due (admins)
    • retention run [--dry-run] — apply the retention periods now, as the bridge does daily (admins)
    • handover @colleague — give them all your open conversations (with inbox.enabled)
    • summary — what the next shift takes over: open conversations, unread broadcasts, failed messages (with inbox.enabled)
    • off-shift / on-shift — whether the desk rooms' alerts mention you (with inbox.enabled)
    • templates — the quick replies: !t <name> in a driver's chat sends one, filled in
    • last-positions — each driver's last shared location and when (!where in a driver's chat asks for it)
    • help — this text
    In a driver's chat: !t <name>, !where, !urgent, !at / !every (scheduled messages), !scheduled, !cancel <n>.
mgmt-not-a-link = "{ $link }" is no message link. In Element: the message's options → Share → copy the link, then send `status <link>`.
mgmt-admins-only = Only bridge admins may do that.
mgmt-no-requests = No open requests.
mgmt-unknown = Unknown command "{ $word }".
    { $help }
mgmt-start-none = No driver matches "{ $who }". Try find.
mgmt-start-many = { $count } drivers match "{ $who }"; use the Threema ID:
    { $list }
mgmt-start-gateway = { $id } is a Gateway ID, not a driver.
mgmt-start-not-yours = { $id } is not among the drivers you are responsible for; nothing was opened.
mgmt-start-no-such-id = The Threema ID { $id } does not exist.
mgmt-start-left = { $name } ({ $id }) has left the company; nothing is sent to them.
mgmt-start-opened = Chat with { $name } ({ $id }): { $link } — you are invited.
mgmt-not-a-threema-id = "{ $who }" is not a Threema ID (8 letters and digits). Nothing changed.
mgmt-key-accepted = The new key of { $id } is trusted now. { $count } held message(s) follow in the driver's chat, in their order.
mgmt-key-nothing = No changed key of { $id } is waiting to be accepted. Nothing changed.
mgmt-erase-needs-admin = Erasing needs admin rights on the homeserver (synapse_admin in the config). Nothing changed.
mgmt-export-usage = Usage: export <employee ID, Threema ID or Matrix ID> [--dry-run]
mgmt-export-dry-run = Would export:
    { $summary }
    Nothing written (--dry-run).
mgmt-homeserver-silent = The homeserver did not answer ({ $error }); run it again.
mgmt-exported = Exported ({ $size } bytes, above):
    { $summary }
    The file stays in this room and the homeserver's media store: delete the message once it is handed over.
mgmt-retention-usage = Usage: retention run [--dry-run]
mgmt-retention-dry-run = Would apply the retention periods:
    { $report }
    Nothing changed (--dry-run).
mgmt-retention-done = Applied the retention periods:
    { $report }
mgmt-retention-failed = { $error }; what was done is kept: run it again.
mgmt-no-directory = No employee directory is configured (directory: in the config).
mgmt-rest-in-log = … (the rest is in the bridge log)
mgmt-no-audit = No audit entries.
mgmt-position-line = • { $name } — { $position } at { $at } — { $geo }{ $link }
mgmt-positions-none = No driver you may see has shared a location yet (!where in their chat asks).
mgmt-positions = 📍 Last shared locations ({ $count }), newest first:
    { $lines }
mgmt-find-none = No driver matches "{ $text }".
mgmt-find = { $count } driver(s):
    { $list }
mgmt-credits-unknown = not known yet
mgmt-outbox-empty = empty
mgmt-status = Gateway ID { $gateway }, credits: { $credits }
    Messages to Threema: { $outbox }
    Matrix events waiting: { $backlog }

## Messages to drivers: what became of them

outbox-failed = ⚠️ Not delivered to { $recipient }: { $reason }. To send it again once that is solved, react with { $resend } to the message.
outbox-unknown = ⚠️ It is unknown whether this reached { $recipient }: { $why }. It was not sent again, to avoid a duplicate on the driver's phone; if the driver did not get it, react with { $resend } to the message to send it again.
outbox-unknown-restored = the bridge was restored from a backup taken before it was settled
outbox-unknown-unconfirmed = the Threema Gateway did not confirm it
outbox-held = ⏸ Held until { $until }: { $name } is off duty, so it goes to the phone when the shift starts. Answer it with !urgent to send it now.
outbox-privacy-notice = Privacy notice for the driver:

    { $text }
schedule-done = ⏰ #{ $id } went for the last time or was cancelled; nothing more is scheduled by it.
schedule-restored = ⏰ Not sent again: #{ $id } was due { $at }, before the bridge was restored from a backup; it may have gone then.

## Broadcasts

broadcast-scheduled-no-credits = ⚠️ Not sent: this scheduled message would cost { $cost } credit(s), the balance is { $balance }. Top up the Gateway account; the schedule goes on.

## In a driver's chat

portal-not-permitted = Not sent to Threema: you are not permitted to write to drivers.
portal-driver-left = Not sent to Threema: the driver has left the company; nothing is sent to them.
broadcast-before-restore = ⚠️ Not sent: the bridge was restored from a backup taken before this broadcast, and it may have gone out before that. Check the recipients and send it again if needed.
template-sent = To the driver: { $text }
template-which = Which one? !t <name>; `templates` in the management room lists them.
template-name-only = !t takes a template's name only; `templates` lists them.
template-unknown = Not sent: there is no template "{ $name }"; `templates` in the management room lists them.
template-no-edit = Not sent: a template cannot be edited into another; send a new !t <name>.
template-none = No templates (templates: in the config).
template-list = Templates ({ $count }):
    { $lines }
location-requested = 📍 Location requested: the next location the driver shares answers this.
urgent-not-held = That message is not held: nothing to send now.
urgent-nothing-held = Nothing is held for this driver.
urgent-released = Sending now what was held for the driver ({ $count } message part(s)).
agreement-taken-back = A 👍 or 👎 taken back stays on the phone: Threema cannot withdraw an agreement. Write to the driver if it no longer holds.
poll-vote-taken-back = 🗳️ took the company's vote back
poll-voted = 🗳️ voted { $answers }
broadcast-not-permitted = Not sent: you are not permitted to write to drivers.
broadcast-no-edits = Edits of a broadcast are not sent: drivers keep the first version. Send a correction as a new message.
broadcast-ack-request = Please confirm with 👍 (tap and hold the message).
broadcast-selection-not-understood = The selection is not understood: { $error }.
broadcast-room-selection-not-understood = The room's selection is not understood: { $error }.
broadcast-balance = balance { $balance }
broadcast-balance-unknown = balance not known
broadcast-preview = 📢 Ready for { $count } recipient(s): { $credits } credit(s), { $balance }.
broadcast-each-gets = Each driver gets: { $template }
broadcast-no-credits = ⚠️ Not enough credits: this message was not sent. Top up the Gateway account and post it again.
broadcast-confirm-how = React with 👍 to this notice to send it; delete your message to cancel.
broadcast-none-yet = No broadcast here yet (or reply to one).
broadcast-csv-private = The per-person report is not shown in a room the desk shares (privacy.receipt_detail); `!report` gives the counts.
broadcast-room-help =
    Every message you post here goes to each recipient on Threema, after you react with 👍 to the bot's preview, and into each driver's own chat. Start a message with !ack to ask drivers to confirm it with 👍; !t <name> sends a template, filled in for each driver.
    Schedule one with !at 2027-01-04 05:55 <text> or !every mon-fri 05:55 <text> (!scheduled lists them, !cancel <n> removes one).
    Commands (start with !): !recipients, !refresh (evaluate the selection again), !report and !csv (per recipient, for the latest message or the one you reply to), !resend-unread (send it again to those who have not read it), !help.
broadcast-recipients = { $count } recipient(s) ({ $live }):
    { $list }
broadcast-refresh-live = This room's selection is live: it is evaluated for every message.
broadcast-refreshed = { $count } recipient(s) now ({ $added } added, { $removed } removed).
broadcast-resent-unread = Sent again to { $count } driver(s) who had not read it ({ $messages } message(s)).
broadcast-resent-unread-private = Sent again to the drivers who had not read it.
broadcast-copy-marker = 📢 Broadcast from { $name }
broadcast-copy-marker-ack = 📢 Broadcast from { $name } (asks for 👍)
broadcast-poll-question = 📢 Broadcast from { $name }: { $question }

## Polls

poll-too-many-answers = This poll was not sent: Matrix polls hold 1 to 20 answers.
poll-ended = The poll has ended. Results: { $results }
poll-tally = { $tally } · not voted { $not_voted }
poll-board-line = 🗳️ { $tally }
poll-board-line-ended = 🗳️ { $tally } (ended)
broadcast-live = live
broadcast-frozen = frozen
broadcast-room-topic = Broadcast to { $selection } — { $help }
broadcast-room-topic-live = Broadcast to { $selection } (live) — { $help }
broadcast-room-welcome = { $count } recipient(s). { $help }
location-request-default = Please share your current location: tap 📎 (or +), then Location.

## The shared inbox

desk-topic-waiting-owned = ⏳ Waiting for an answer since { $since } · { $owner } has it
desk-topic-waiting = ⏳ Waiting for an answer since { $since } · nobody has it yet (!claim or { $claim })
desk-topic-answered = ✓ Answered by { $by }
desk-topic-handled = ✓ Handled by { $by }
desk-topic-nothing = ✓ Nothing waiting
desk-board-empty = 📋 Desk board: no driver waits for an answer.
desk-board = 📋 Desk board: waiting for an answer ({ $count }), longest first:
desk-has-it = { $owner } has it
desk-nobody-has-it = nobody has it
desk-board-line = • { $driver } — since { $since }, { $owner }{ $said } — { $link }
desk-statuses = 🏷️ Status (last 24 h), newest first:
desk-status-line = • { $driver } — { $meaning } ({ $code }) at { $at } — { $link }
desk-summary = Shift summary, { $at }:
desk-summary-nothing-waits = No driver waits for an answer.
desk-summary-waiting = Waiting for an answer ({ $count }):
desk-summary-line = • { $driver } — since { $since } ({ $minutes } min), { $owner } — { $link }
desk-summary-broadcasts = Broadcasts not read by everyone ({ $count }):
desk-summary-unread = { $unread } of { $recipients } not read
desk-summary-unread-unacknowledged = { $unread } of { $recipients } not read, { $unacknowledged } not acknowledged
desk-summary-failed = Messages that failed or may not have arrived, last 24 h ({ $count } driver(s)):
desk-summary-failed-line = • { $driver }: { $count } message(s) — { $link }
desk-off = The shared inbox is off (inbox.enabled).
desk-on-shift-not-yet = On shift as far as you are concerned; by the directory your shift has not started, so the desk rooms' alerts mention you only once it has.
desk-on-shift = On shift: the desk rooms' alerts mention you again.
desk-off-shift = Off shift: the desk rooms' alerts mention your colleagues on shift (you, if nobody is); what you have stays yours. on-shift when you are back.
desk-late = ⏰ { $name } has waited { $waited } for an answer
desk-escalated = ⚠️ { $name } still has no answer after { $waited }
desk-urgent-said = 🆘 Urgent from { $name }: “{ $line }”
desk-urgent = 🆘 Urgent from { $name }
desk-room-topic = The shared inbox: the desk board of what waits for an answer, drivers' messages that wait too long, and urgent ones at once. Kept by the bridge.
desk-room-name = Desk
desk-room-name-scoped = Desk · { $scope }
desk-waited-moment = less than a minute
desk-waited-minutes = { $minutes } min
desk-waited-hours = { $hours } h { $minutes } min
desk-assign-usage = Not sent to the driver. Usage: !assign @colleague (mention them).
desk-assign-not-theirs = Not assigned: they may not see this driver.
desk-handover-usage = Usage: handover @colleague (their Matrix ID).
desk-handed-over = { $count } open conversation(s) handed over to { $to }.
desk-handed-over-some = { $count } open conversation(s) handed over to { $to }; { $kept } stay with you (they may not see these drivers): { $drivers }.

## A broadcast's board and report

stage-pending = pending
stage-held = held (off duty)
stage-sent = sent
stage-received = received
stage-read = read
stage-failed = failed
stage-unknown = outcome unknown
board-summary = 📢 Broadcast to { $total } driver(s): sent { $sent } · received { $received }
board-read = read { $count }
board-acknowledged = acknowledged { $count }
board-declined = declined { $count }
board-failed-count = failed { $count }
board-unknown = outcome unknown { $count }
board-pending = on the way { $count }
board-held = held for drivers off duty { $count }
board-of = (of { $total })
board-not-read = Not read yet
board-not-acknowledged = Read, not acknowledged yet
board-failed = Failed
board-answers = Answers
board-more = and { $count } more (!report lists all)
report-private = Per-person times are not shown in a room the desk shares (privacy.receipt_detail).
report-head = Per recipient: state · sent · received · read · acknowledged

## Selections (select, broadcast, save-list)

select-head = 📢 { $selection }: { $count } recipient(s)
select-left-out = Left out ({ $count }):
select-more = and { $count } more
select-out-of-scope = { $count } driver(s) outside your scope
select-balance-unknown = balance not known (the Gateway did not answer)
select-cost = Cost: { $cost } credit(s) per text message (a file costs more); { $balance }.
select-why-left = has left the company
select-why-no-id = has no Threema ID in the directory
select-why-out-of-scope = is outside your scope
select-why-unknown = is no driver the bridge knows (open a chat with start <ID> first)
select-nobody = Nobody to write to: no broadcast room was opened.
select-no-credits = ⚠️ Not enough credits for one message to everyone: the broadcast was not started and no room was opened. Top up the Gateway account first.
select-room-live = Broadcast room (live: the selection is evaluated again for every message): { $link } — you are invited.
select-room-frozen = Broadcast room (frozen: these recipients, until you send !refresh there): { $link } — you are invited.
select-recipients = Recipients:
    { $list }
select-save-usage = Usage: save-list <name> <selection>
select-list-theirs = list:{ $name } is a colleague's list and stays as they saved it. Save yours under another name.
select-list-saved = Saved list:{ $name } = { $selection } ({ $count } recipient(s) now). Use it as broadcast list:{ $name }.
select-not-understood = The selection "{ $selection }" is not understood: { $error }.

## A message's delivery status (status <link>)

status-not-sent = That message was not sent to Threema (not from a portal, or not yours to send).
status-parts = Sent in { $parts } parts; the first part's state:
status-earlier-tries = after { $count } earlier try(s)
status-counts-read = { $total } recipient(s): sent { $sent } · received { $received } · read { $read } · failed { $failed } · on the way { $waiting } (not per person: privacy.receipt_detail)
status-counts = { $total } recipient(s): sent { $sent } · received { $received } · failed { $failed } · on the way { $waiting } (not per person: privacy.receipt_detail)
status-held = held until { $at } (the driver is off duty; !urgent sends it now)
status-queued = queued since { $at }
status-sending = being sent
status-failed = failed at { $at }: { $reason } (react with { $resend } to the message to send it again)
status-unknown = outcome unknown since { $at }: the Threema Gateway did not confirm it
status-read = read { $at }
status-received = received { $at }
status-sent = sent { $at }
status-acknowledged = 👍 acknowledged { $at }
status-declined = 👎 declined { $at }

## Encrypted rooms, unknown senders, credits

encrypted-portal = This room is encrypted and the bridge is set up without encryption: what is written here does not reach the driver. Ask your administrator.
encrypted-broadcast-room = This room is encrypted and the bridge is set up without encryption: broadcasts written here are not sent. Open a new broadcast room from your management room.
encrypted-command-room = This room is encrypted and the bridge is set up without encryption: commands written here are not read.
encrypted-dm-not-permitted = This room is encrypted and the bridge is set up without encryption; you are not permitted to use the bridge either.
encrypted-dm-nowhere = This room is encrypted and the bridge is set up without encryption, and this homeserver encrypts every new room: I cannot read your commands. Ask your administrator.
encrypted-dm-moved = This room is encrypted and the bridge is set up without encryption: I cannot read what you write here. I have invited you to an unencrypted room, “{ $name }”: give me your commands there.
undecryptable = ⚠️ This message could not be decrypted: its key did not reach the bridge (the homeserver may have lost it while the bridge restarted), so it did not go to the driver. Your app keeps that key for a while; if this repeats, tell your administrator.
management-room-name = Threema bridge
management-room-topic = Commands to the Threema bridge. Not encrypted: the bridge is set up without encryption.
quarantine-message = 📥 { $from }{ $nickname } is not a known driver and wrote: { $what }
    To open a chat with them, answer here: start { $from }
quarantine-room-name = Threema: unknown senders
quarantine-room-topic = Messages from Threema IDs that are not known drivers. Answer `start <ID>` to open a chat with one.
credits-low = ⚠️ The Threema Gateway account { $gateway } has { $balance } credits left (warning below { $below }). Every message to a driver costs one; when they run out, messages fail. Top up the account in the Gateway admin panel.
broadcast-escalation = ⏰ { $sender }: only { $read } of { $total } recipient(s) ({ $percent } %) have read this after { $minutes } minute(s). !report lists who; !resend-unread (as a reply to it) sends it again to them.

## What cannot go to Threema

refused-edit-of-parts = This message went to Threema in several parts, so the edit was not sent. Send the correction as a new message.
refused-edit-of-colleagues = Not sent to Threema: only its author can edit a message on the driver's phone.
refused-edit-of-drivers = A driver's message cannot be edited on Threema.
refused-delete-of-colleagues = Removed here only: only its author can delete a message on the driver's phone.
refused-delete-of-drivers = Removed here only: a driver's message cannot be deleted on their phone.
refused-type = Messages of type { $msgtype } cannot be sent to Threema.
refused-location = This location could not be sent: it has no geo: URI the bridge can read.
refused-edit-not-text = Only text can be edited on Threema.
refused-edit-too-long = The edited text is too long for Threema ({ $bytes } of at most { $max } bytes); the edit was not sent.
refused-poll-question = This poll was not sent: its question, signed with your name, is longer than Threema's { $max } bytes. Shorten it and start it again.
refused-poll-answer = This poll was not sent: answer { $n } is longer than Threema's { $max } bytes.
refused-poll-too-large = This poll was not sent: its question and answers together are more than a Threema poll holds. Use fewer or shorter answers.
refused-poll-edited = Edits of a poll are not sent: the driver keeps the first version. End it and start a new one.
refused-poll-not-understood = This poll is not understood (its format is not one Element or the Matrix specification sends), so it was not sent.
refused-poll-empty = A poll needs a question and at least one answer.

## Why a message to a driver failed

failed-gave-up = it could not be sent for { $minutes } minute(s) ({ $error })
failed-no-credits = the Threema Gateway account has no credits left
failed-bad-recipient = the Threema Gateway does not accept this recipient
failed-too-large = too large for Threema
failed-credentials = the bridge's Threema Gateway credentials were rejected (tell IT)
failed-driver-left = the driver has left the company; nothing is sent to them
failed-restricted = not sent: the driver's data are restricted under a legal hold
failed-no-such-id = this Threema ID does not exist (any more)
failed-edited-never-sent = the edited message never reached the driver
failed-drivers-message-unknown = the driver's message is not known on Threema
failed-template = a template was queued without being filled in
failed-deleted-never-sent = the deleted message never reached the driver
failed-poll-never-sent = the poll never reached the driver
failed-drivers-poll-unknown = the driver's poll is not known
failed-attachment = the attachment could not be fetched from the homeserver: { $error }
failed-poll-too-large = the poll is larger than a Threema poll may be

## A driver's files and messages the bridge could not show

file-too-large = 📎 { $name } ({ $size }) was not bridged: the homeserver takes files up to { $limit }.
file-over-limit = 📎 { $name } (over { $limit }) was not bridged: the homeserver takes files up to { $limit }.
file-gone = 📎 A file was no longer available at Threema and was not bridged. Please ask for it again.
file-not-fetched = 📎 A file could not be fetched from Threema ({ $attempts } attempts) and was not bridged. Please ask for it again.
file-refused-by-homeserver = 📎 { $name } ({ $size }) was not bridged: the homeserver does not take files this large.
callback-unreadable = ⚠️ The Threema Gateway delivered a message whose { $field } cannot be read (Threema inbox row { $row }). It is kept there and was not bridged.
reply-not-here = ↩️ (reply to a message not in this room)

## Rooms the bridge keeps closed, the directory

room-no-longer-permitted = No longer permitted in this room.
room-only-bridge-invites = Only the bridge invites to this room.
directory-sync-stopped = ⚠️ Directory sync stopped: { $why }
location-body = 📍 Location: { $coordinates }
poll-text-poll = Poll
poll-text-closed = closed
poll-text-multiple = multiple choice
poll-text-single = single choice
poll-text-choice = choice #{ $id }
poll-text-withdrew = 🗳️ Withdrew the vote
poll-text-voted = 🗳️ Voted: { $choices }
poll-text-withdrew-elsewhere = 🗳️ Withdrew the vote in a poll not in this room
poll-text-voted-elsewhere = 🗳️ Voted in a poll not in this room: choice { $choices }

## The admins' data-protection answers (erase, export, hold, requests, retention) and the
## directory sync's report. English is also what the command line and the audit log say.
mgmt-homeserver-failed = The homeserver did not carry it out ({ $error }); what was done is kept: run it again.
mgmt-erase-usage = Usage: erase <employee ID, Threema ID or Matrix ID> [--dry-run] [--force]
mgmt-erased = Erased (tombstone { $tombstone }):
    { $report }
mgmt-erase-dry-run = Would erase:
    { $report }
    Nothing changed (--dry-run).
mgmt-erase-held = Under a legal hold, nothing erased:
    { $holds }
erase-report-homeserver = homeserver { $step }: { $what }
erase-report-table = bridge table { $table }: { $count } row(s)
subject-employee = employee { $id }
subject-driver = Threema ID { $id }
subject-user = Matrix ID { $id }
target-employee = employee { $id }
target-driver = driver { $id }
target-user = user { $id }
target-room = room { $id }
refused-not-a-user-id = "{ $text }" is not a Matrix user ID; nothing changed
refused-nobody-named = "{ $text }" is neither an employee ID of the directory, a Threema ID nor a Matrix user ID; nothing changed
refused-not-a-room-id = "{ $text }" is not a room ID; nothing changed
refused-not-a-portal-alias = "{ $text }" is not a portal's alias (#threema_<id>:{ $domain }); name the room by its ID
refused-no-portal = { $driver } has no portal
refused-still-active = { $subject } is still active in the directory: offboard them first (or --force, and the next directory sync brings them back); nothing changed
refused-nothing-to-erase = { $subject } has neither a Threema ID nor a Matrix account; nothing changed
refused-hold-without-reason = a hold needs a reason; nothing changed
refused-no-hold-on = no hold is in force on { $target }; nothing changed
unfinished-room-delete-failed = the homeserver failed to delete { $room } (task { $task }); see its log, then run the erasure again
unfinished-room-deleting = { $room } is still being deleted; run the erasure again later to finish
unfinished-purge-failed = the homeserver failed to purge the history of { $room } (purge { $purge }); see its log; the next pass tries again
unfinished-purging = the history of { $room } is still being purged (purge { $purge }); the next pass looks again
hold-set = hold { $id } set on { $target }
hold-already = { $target } is under a hold already; nothing changed
hold-released = hold on { $target } released
hold-none = No holds.
hold-usage = Usage: hold set <employee ID, Threema ID, Matrix ID or room> --reason <text> [--case <reference>] · hold release <…> · hold list [all]
hold-line = hold { $id } on { $target }: set { $at } by { $by };{ $case } { $reason }{ $released }
hold-case = { " " }case { $case };
hold-released-at = { " " }(released { $at } by { $by })
request-line = #{ $id } { $kind ->
        [export] export
       *[erasure] erasure
    } of { $subject }: received { $received }, due { $due } ({ $when }), registered by { $by }
request-due-today = due today
request-overdue = overdue by { $days } day(s)
request-days-left = { $days } day(s) left
request-reminder = GDPR request { $request } — answer it with `gdpr { $verb } { $subject }` (or close it with `gdpr requests done { $id }`).
export-summary-messages = messages.jsonl, messages.html: { $count } event(s)
export-summary-media = media/: { $count } file(s), { $bytes } byte(s)
export-summary-delivery = delivery.csv: { $count } row(s)
export-summary-audit = audit.jsonl: { $count } entr(ies)
export-summary-profile = profile.json: { $what }
export-summary-profile-record = directory record and its history
export-summary-profile-ids = IDs only (not in the directory)
export-summary-colleagues = colleagues pseudonymised: { $count }
export-summary-due = due on { $day }
retention-gone = gone
retention-would-go = would go
retention-report-history = homeserver: { $events } event(s) and { $media } medi(a) in { $rooms } portal(s){ $desks ->
        [0] {""}
       *[other] { " " }and { $desks } desk room(s)
    } { $verb }
retention-report-media = homeserver: { $count } file(s) past media_days { $verb } (their events stay)
retention-report-held = kept by a legal hold: { $count } portal(s)
retention-report-texts = bridge: { $count } dispatcher text(s) of sends { $verb }
retention-report-delivery-times = bridge: the delivery times of { $count } send(s) { $verb } (their state stays)
retention-report-polls = bridge: { $polls } poll(s) with their votes, { $statuses } driver status(es) and location(s) { $verb }
retention-report-audit = bridge: { $count } audit entr(ies) { $verb }
retention-report-inboxes = bridge: { $matrix } Matrix and { $threema } Threema inbox row(s), { $state } room state row(s) gone
retention-report-inboxes-not-counted = bridge: inbox rows past retention.inbox_days are not counted
sync-source-refused = { $source }: REFUSED: { $why }
sync-source-changes = { $source }: { $count } change(s)
sync-skipped = skipped: { $problem }
sync-problem = problem: { $problem }
sync-would-do = would do { $count } action(s)
sync-planned = planned { $count } action(s)
sync-applied = applied { $applied }, failed { $failed }, homeserver calls { $calls }
sync-failed = failed: { $what }
snapshot-empty = the { $origin } snapshot is empty; an empty export is never applied
snapshot-too-many-offboarded = the { $origin } snapshot would offboard { $offboard } of { $active } active people ({ $percent } %), more than the allowed { $allowed } %; check the export, or apply it anyway with `directory sync --force`
change-added = added { $role } { $name } ({ $id }){ $active ->
        [no] , inactive
       *[yes] {""}
    }
change-removed = removed { $name } ({ $id })
change-changed = changed { $name } ({ $id }): { $what }
action-room-portal = portal of { $id }
action-room-space = space { $key }
action-ghost = ghost of { $driver }: name "{ $name }"
action-create-portal = create portal "{ $name }" for { $driver }, inviting { $count }
action-link-portal = record { $room } as the portal of employee { $employee }
action-move-driver = move { $room } from { $from } to the new Threema ID { $to }
action-create-space = create space "{ $name }" ({ $key }) with { $rooms } { $rooms ->
        [one] room
       *[other] rooms
    }, inviting { $count }
action-set-name = rename { $room } to "{ $name }"
action-set-topic = topic of { $room }: "{ $topic }"
action-add-child = add { $child } to space { $space }
action-remove-child = remove { $child } from space { $space }
action-invite = invite { $user } to { $room }
action-kick = remove { $user } from { $room } ({ $reason })
action-read-only = { $room }: { $read_only ->
        [yes] read-only
       *[no] writable
    }
action-ghost-join = ghost of { $driver } joins { $room }
action-ghost-leave = ghost of { $driver } leaves { $room }
action-deactivate = deactivate the account { $user }

## The integration API.
api-portal-copy = 🔌 { $client }: { $text }
job-title = 📋 Job: { $title }
job-answer-accept-decline = Reply with 👍 to accept or 👎 to decline (tap and hold this message).
job-answer-codes = Answer with a code: { $codes }
desk-jobs = 📋 Jobs (last 24 h), newest first:
desk-job-line = • { $driver } — { $title } ({ $client }): { $state } at { $at } — { $link }
desk-job-open = open
desk-job-accepted = ✅ accepted
desk-job-declined = ❌ declined
desk-job-failed = ⚠️ not delivered
retention-report-api = bridge: { $count } integration API message(s) and job card(s) { $verb }
mgmt-status-webhooks = Webhook events waiting: { $waiting }, given up in the last 24 h: { $given_up }
job-answer-poll = Answer in the poll that follows.
