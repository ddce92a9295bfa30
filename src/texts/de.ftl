# Was der Bot und die Übersichten schreiben, auf Deutsch (bridge.language: de). Jeder Schlüssel
# hat seinen Zwilling in en.ftl mit denselben Variablen; die Tests prüfen beide und jeden
# Schlüssel, den der Code verwendet.

## Tage und Zeiten

weekday-mon = Mo
weekday-tue = Di
weekday-wed = Mi
weekday-thu = Do
weekday-fri = Fr
weekday-sat = Sa
weekday-sun = So

## Fahrer, denen nicht geschrieben werden kann

driver-left = der Fahrer ist nicht mehr im Unternehmen
driver-restricted = die Verarbeitung der Daten dieses Fahrers ist eingeschränkt (Löschsperre oder Widerspruch)

## Geplante Nachrichten (!at, !every, !scheduled, !cancel)

schedule-how = !at 2027-01-04 05:55 <Text>, !at 05:55 <Text> (das nächste 05:55), !every mo-fr 05:55 <Text> (Tage: mo … so, Bereiche, Listen, täglich, werktags, wochenende), !scheduled, !cancel <n>
schedule-once = einmal, { $at }
schedule-every = jeden { $days } um { $time }
schedule-every-day = Tag
schedule-day-range = { $from }–{ $until }
schedule-passed = Nicht geplant: { $at } ist vorbei.
schedule-not-a-date = { $word } ist kein Datum. ({ $how })
schedule-not-a-time = „{ $word }“ ist keine Uhrzeit (HH:MM). ({ $how })
schedule-not-days = Welche Tage sind „{ $word }“? ({ $how })
schedule-no-text = Was soll gesendet werden? ({ $how })
schedule-which-one = Welche? !cancel <n>, n wie !scheduled es anzeigt. ({ $how })
schedule-never = Nicht geplant: sie würde nie gesendet werden.
schedule-recorded = ⏰ Geplant als #{ $id }: { $rule }, als Nächstes { $next }. !scheduled zeigt die Planungen dieses Raums, !cancel { $id } löscht diese Planung.
schedule-cancelled = ⏰ #{ $id } gelöscht.
schedule-no-such = Hier gibt es keine #{ $id }; !scheduled zeigt die Planungen dieses Raums.
schedule-none = Hier ist nichts geplant.
schedule-list = ⏰ Hier geplant ({ $count }):
schedule-list-line = #{ $id } { $rule }, als Nächstes { $next } — { $sender }: { $text }
schedule-skipped = ⏰ Nicht gesendet: #{ $id } war für { $at } geplant, als die Bridge nicht lief.
schedule-refused = ⏰ #{ $id } gelöscht: { $why }.
schedule-author-unknown = wer sie geplant hat, ist nicht bekannt
schedule-may-not-broadcast = { $who } darf hier nicht mehr senden
schedule-driver-unknown = der Fahrer ist nicht bekannt
schedule-may-not-write = { $who } darf diesem Fahrer nicht mehr schreiben
schedule-portal-copy = ⏰ { $sender } (geplant): { $text }
schedule-broadcast-copy = ⏰ Geplant von { $sender }: { $text }

## Der Verwaltungsraum

mgmt-not-permitted-ask = Sie dürfen die Threema-Bridge leider nicht verwenden. Wenden Sie sich an Ihre Administration, wenn Sie Zugang brauchen.
mgmt-not-permitted = Sie dürfen die Threema-Bridge leider nicht verwenden.
mgmt-welcome = Hallo! Ich verbinde die Disposition mit Threema.
    { $help }
mgmt-help =
    Befehle:
    • start <Threema-ID oder Name> — den Chat mit einem Fahrer öffnen (Sie werden eingeladen)
    • find <Text> — Fahrer nach Name oder Threema-ID suchen
    • status — der Zustand der Bridge: Gateway-Guthaben, Warteschlangen
    • status <Link zu einer Nachricht> (oder als Antwort auf eine Nachricht) — wer sie wann erhalten und gelesen hat
    • sync — das Mitarbeiterverzeichnis jetzt lesen (Admins)
    • audit [Personalnummer, Benutzer oder Threema-ID] — die neuesten Protokolleinträge (Admins)
    • broadcast [live] <Auswahl> — ein Raum, dessen Nachrichten an alle ausgewählten Fahrer gehen, z. B. broadcast depot=Nord AND shift=spät, broadcast vehicle=12|17|40, broadcast DRIVER01, "Erika Muster", broadcast space:Nord NOT team=B, broadcast list:<Name>
    • select <Auswahl> — wen eine Auswahl erreicht, wen nicht, was es kostet
    • save-list <Name> <Auswahl> — eine benannte Auswahl, verwendet als list:<Name>
    • accept-key <Threema-ID> — dem geänderten Schlüssel eines Fahrers vertrauen und die bis dahin zurückgehaltenen Nachrichten zustellen (Admins)
    • hold set <Personalnummer, Threema-ID, Matrix-ID oder Raum> --reason <Text> [--case <Aktenzeichen>], hold release <…>, hold list [all] — Löschsperren (Legal Hold): was sie betreffen, wird weder gelöscht noch bereinigt (Admins)
    • erase <Personalnummer, Threema-ID oder Matrix-ID> [--dry-run] [--force] — einen Fahrer vom Homeserver und aus der Bridge löschen, oder einen Disponenten aus der Bridge (Admins; siehe README)
    • export <Personalnummer, Threema-ID oder Matrix-ID> [--dry-run] — alles, was über eine Person gespeichert ist, als ZIP hier (Admins)
    • requests — offene Auskunfts- und Löschanträge und ihre Fristen (Admins)
    • retention run [--dry-run] — die Aufbewahrungsfristen jetzt anwenden, wie die Bridge es täglich tut (Admins)
    • handover @Kollegin — ihr alle Ihre offenen Gespräche übergeben (mit inbox.enabled)
    • summary — was die nächste Schicht übernimmt: offene Gespräche, ungelesene Rundsendungen, fehlgeschlagene Nachrichten (mit inbox.enabled)
    • off-shift / on-shift — ob die Meldungen der Dispo-Räume Sie erwähnen (mit inbox.enabled)
    • templates — die Textbausteine: !t <Name> im Chat eines Fahrers sendet einen, ausgefüllt
    • last-positions — der zuletzt geteilte Standort jedes Fahrers und wann (!where im Chat eines Fahrers fragt danach)
    • help — dieser Text
    Im Chat eines Fahrers: !t <Name>, !where, !urgent, !at / !every (geplante Nachrichten), !scheduled, !cancel <n>.
mgmt-not-a-link = „{ $link }“ ist kein Link zu einer Nachricht. In Element: Optionen der Nachricht → Teilen → Link kopieren, dann `status <Link>` senden.
mgmt-admins-only = Das dürfen nur Admins der Bridge.
mgmt-no-requests = Keine offenen Anträge.
mgmt-unknown = Unbekannter Befehl „{ $word }“.
    { $help }
mgmt-start-none = Kein Fahrer passt zu „{ $who }“. Versuchen Sie find.
mgmt-start-many = { $count } Fahrer passen zu „{ $who }“; bitte die Threema-ID verwenden:
    { $list }
mgmt-start-gateway = { $id } ist eine Gateway-ID, kein Fahrer.
mgmt-start-not-yours = { $id } gehört nicht zu den Fahrern, für die Sie zuständig sind; es wurde nichts geöffnet.
mgmt-start-no-such-id = Die Threema-ID { $id } gibt es nicht.
mgmt-start-left = { $name } ({ $id }) ist nicht mehr im Unternehmen; es wird nichts mehr an diese Person gesendet.
mgmt-start-opened = Chat mit { $name } ({ $id }): { $link } — Sie sind eingeladen.
mgmt-not-a-threema-id = „{ $who }“ ist keine Threema-ID (8 Buchstaben und Ziffern). Nichts geändert.
mgmt-key-accepted = Dem neuen Schlüssel von { $id } wird jetzt vertraut. { $count } zurückgehaltene Nachricht(en) folgen im Chat des Fahrers, in ihrer Reihenfolge.
mgmt-key-nothing = Für { $id } wartet kein geänderter Schlüssel auf Bestätigung. Nichts geändert.
mgmt-erase-needs-admin = Löschen braucht Admin-Rechte auf dem Homeserver (synapse_admin in der Konfiguration). Nichts geändert.
mgmt-export-usage = Aufruf: export <Personalnummer, Threema-ID oder Matrix-ID> [--dry-run]
mgmt-export-dry-run = Würde exportieren:
    { $summary }
    Nichts geschrieben (--dry-run).
mgmt-homeserver-silent = Der Homeserver hat nicht geantwortet ({ $error }); bitte noch einmal.
mgmt-exported = Exportiert ({ $size } Bytes, oben):
    { $summary }
    Die Datei bleibt in diesem Raum und im Medienspeicher des Homeservers: löschen Sie die Nachricht, sobald sie übergeben ist.
mgmt-retention-usage = Aufruf: retention run [--dry-run]
mgmt-retention-dry-run = Würde die Aufbewahrungsfristen anwenden:
    { $report }
    Nichts geändert (--dry-run).
mgmt-retention-done = Aufbewahrungsfristen angewendet:
    { $report }
mgmt-retention-failed = { $error }; was erledigt ist, bleibt: bitte noch einmal.
mgmt-no-directory = Es ist kein Mitarbeiterverzeichnis eingerichtet (directory: in der Konfiguration).
mgmt-rest-in-log = … (der Rest steht im Log der Bridge)
mgmt-no-audit = Keine Protokolleinträge.
mgmt-position-line = • { $name } — { $position } um { $at } — { $geo }{ $link }
mgmt-positions-none = Kein Fahrer, den Sie sehen dürfen, hat bisher einen Standort geteilt (!where in seinem Chat fragt danach).
mgmt-positions = 📍 Zuletzt geteilte Standorte ({ $count }), neueste zuerst:
    { $lines }
mgmt-find-none = Kein Fahrer passt zu „{ $text }“.
mgmt-find = { $count } Fahrer:
    { $list }
mgmt-credits-unknown = noch nicht bekannt
mgmt-outbox-empty = leer
mgmt-status = Gateway-ID { $gateway }, Guthaben: { $credits }
    Nachrichten an Threema: { $outbox }
    Wartende Matrix-Ereignisse: { $backlog }

## Nachrichten an Fahrer: was aus ihnen wurde

outbox-failed = ⚠️ Nicht zugestellt an { $recipient }: { $reason }. Um sie erneut zu senden, sobald das behoben ist, reagieren Sie mit { $resend } auf die Nachricht.
outbox-unknown = ⚠️ Es ist unbekannt, ob dies { $recipient } erreicht hat: { $why }. Es wurde nicht erneut gesendet, um eine doppelte Nachricht auf dem Telefon zu vermeiden; wenn der Fahrer sie nicht bekommen hat, reagieren Sie mit { $resend } auf die Nachricht, um sie erneut zu senden.
outbox-unknown-restored = die Bridge wurde aus einer Sicherung wiederhergestellt, die vor dem Abschluss erstellt wurde
outbox-unknown-unconfirmed = das Threema Gateway hat es nicht bestätigt
outbox-held = ⏸ Zurückgehalten bis { $until }: { $name } hat keinen Dienst, die Nachricht geht bei Schichtbeginn aufs Telefon. Antworten Sie mit !urgent, um sie jetzt zu senden.
outbox-privacy-notice = Datenschutzhinweis für den Fahrer:

    { $text }
schedule-done = ⏰ #{ $id } wurde zum letzten Mal gesendet oder gelöscht; es ist nichts mehr geplant.
schedule-restored = ⏰ Nicht erneut gesendet: #{ $id } war für { $at } geplant, vor der Wiederherstellung der Bridge aus einer Sicherung; sie ist vielleicht schon damals gesendet worden.

## Rundsendungen

broadcast-scheduled-no-credits = ⚠️ Nicht gesendet: diese geplante Nachricht würde { $cost } Credit(s) kosten, das Guthaben beträgt { $balance }. Laden Sie das Gateway-Konto auf; die Planung bleibt bestehen.

## Im Chat eines Fahrers

portal-not-permitted = Nicht an Threema gesendet: Sie dürfen Fahrern nicht schreiben.
portal-driver-left = Nicht an Threema gesendet: der Fahrer ist nicht mehr im Unternehmen; es wird nichts mehr an diese Person gesendet.
broadcast-before-restore = ⚠️ Nicht gesendet: die Bridge wurde aus einer Sicherung von vor dieser Rundsendung wiederhergestellt, sie ist vielleicht schon damals hinausgegangen. Prüfen Sie die Empfänger und senden Sie sie bei Bedarf erneut.
template-sent = An den Fahrer: { $text }
template-which = Welcher? !t <Name>; `templates` im Verwaltungsraum zeigt sie.
template-name-only = !t nimmt nur den Namen eines Textbausteins; `templates` zeigt sie.
template-unknown = Nicht gesendet: es gibt keinen Textbaustein „{ $name }“; `templates` im Verwaltungsraum zeigt sie.
template-no-edit = Nicht gesendet: ein Textbaustein kann nicht in einen anderen geändert werden; senden Sie ein neues !t <Name>.
template-none = Keine Textbausteine (templates: in der Konfiguration).
template-list = Textbausteine ({ $count }):
    { $lines }
location-requested = 📍 Standort angefragt: der nächste Standort, den der Fahrer teilt, beantwortet dies.
urgent-not-held = Diese Nachricht wird nicht zurückgehalten: jetzt ist nichts zu senden.
urgent-nothing-held = Für diesen Fahrer wird nichts zurückgehalten.
urgent-released = Was für den Fahrer zurückgehalten wurde, wird jetzt gesendet ({ $count } Nachrichtenteil(e)).
agreement-taken-back = Ein zurückgenommenes 👍 oder 👎 bleibt auf dem Telefon: Threema kann eine Zustimmung nicht zurückziehen. Schreiben Sie dem Fahrer, wenn sie nicht mehr gilt.
poll-vote-taken-back = 🗳️ hat die Stimme des Unternehmens zurückgenommen
poll-voted = 🗳️ hat abgestimmt: { $answers }
broadcast-not-permitted = Nicht gesendet: Sie dürfen Fahrern nicht schreiben.
broadcast-no-edits = Änderungen einer Rundsendung werden nicht gesendet: die Fahrer behalten die erste Fassung. Senden Sie eine Korrektur als neue Nachricht.
broadcast-ack-request = Bitte mit 👍 bestätigen (Nachricht gedrückt halten).
broadcast-selection-not-understood = Die Auswahl ist nicht verständlich: { $error }.
broadcast-room-selection-not-understood = Die Auswahl dieses Raums ist nicht verständlich: { $error }.
broadcast-balance = Guthaben { $balance }
broadcast-balance-unknown = Guthaben unbekannt
broadcast-preview = 📢 Bereit für { $count } Empfänger: { $credits } Credit(s), { $balance }.
broadcast-each-gets = Jeder Fahrer bekommt: { $template }
broadcast-no-credits = ⚠️ Nicht genug Guthaben: diese Nachricht wurde nicht gesendet. Laden Sie das Gateway-Konto auf und senden Sie sie erneut.
broadcast-confirm-how = Reagieren Sie mit 👍 auf diesen Hinweis, um sie zu senden; löschen Sie Ihre Nachricht, um abzubrechen.
broadcast-none-yet = Hier gibt es noch keine Rundsendung (oder antworten Sie auf eine).
broadcast-csv-private = Der Bericht pro Person wird in einem Raum, den die Dispo teilt, nicht gezeigt (privacy.receipt_detail); `!report` nennt die Zahlen.
broadcast-room-help =
    Jede Nachricht, die Sie hier schreiben, geht nach einem 👍 auf die Vorschau des Bots an jeden Empfänger auf Threema und in den Chat jedes Fahrers. Beginnen Sie eine Nachricht mit !ack, damit die Fahrer sie mit 👍 bestätigen; !t <Name> sendet einen Textbaustein, für jeden Fahrer ausgefüllt.
    Planen mit !at 2027-01-04 05:55 <Text> oder !every mo-fr 05:55 <Text> (!scheduled zeigt sie, !cancel <n> löscht eine).
    Befehle (mit ! am Anfang): !recipients, !refresh (die Auswahl neu auswerten), !report und !csv (pro Empfänger, für die letzte Nachricht oder die, auf die Sie antworten), !resend-unread (erneut an alle, die sie nicht gelesen haben), !help.
broadcast-recipients = { $count } Empfänger ({ $live }):
    { $list }
broadcast-refresh-live = Die Auswahl dieses Raums ist live: sie wird für jede Nachricht neu ausgewertet.
broadcast-refreshed = Jetzt { $count } Empfänger ({ $added } dazu, { $removed } entfernt).
broadcast-resent-unread = Erneut an { $count } Fahrer gesendet, die sie nicht gelesen hatten ({ $messages } Nachricht(en)).
broadcast-resent-unread-private = Erneut an die Fahrer gesendet, die sie nicht gelesen hatten.
broadcast-copy-marker = 📢 Rundsendung von { $name }
broadcast-copy-marker-ack = 📢 Rundsendung von { $name } (bittet um 👍)
broadcast-poll-question = 📢 Rundsendung von { $name }: { $question }

## Umfragen

poll-too-many-answers = Diese Umfrage wurde nicht gesendet: Matrix-Umfragen haben 1 bis 20 Antworten.
poll-ended = Die Umfrage ist beendet. Ergebnis: { $results }
poll-tally = { $tally } · nicht abgestimmt { $not_voted }
poll-board-line = 🗳️ { $tally }
poll-board-line-ended = 🗳️ { $tally } (beendet)
broadcast-live = live
broadcast-frozen = fest
broadcast-room-topic = Rundsendung an { $selection } — { $help }
broadcast-room-topic-live = Rundsendung an { $selection } (live) — { $help }
broadcast-room-welcome = { $count } Empfänger. { $help }
location-request-default = Bitte aktuellen Standort teilen: 📎 (oder +) antippen, dann Standort.

## Der gemeinsame Posteingang

desk-topic-waiting-owned = ⏳ Wartet seit { $since } auf Antwort · { $owner } übernimmt
desk-topic-waiting = ⏳ Wartet seit { $since } auf Antwort · noch niemand übernimmt (!claim oder { $claim })
desk-topic-answered = ✓ Beantwortet von { $by }
desk-topic-handled = ✓ Erledigt von { $by }
desk-topic-nothing = ✓ Nichts offen
desk-board-empty = 📋 Dispo-Übersicht: kein Fahrer wartet auf Antwort.
desk-board = 📋 Dispo-Übersicht: wartet auf Antwort ({ $count }), längste Wartezeit zuerst:
desk-has-it = { $owner } übernimmt
desk-nobody-has-it = niemand übernimmt
desk-board-line = • { $driver } — seit { $since }, { $owner }{ $said } — { $link }
desk-statuses = 🏷️ Status (letzte 24 h), neueste zuerst:
desk-status-line = • { $driver } — { $meaning } ({ $code }) um { $at } — { $link }
desk-summary = Schichtübergabe, { $at }:
desk-summary-nothing-waits = Kein Fahrer wartet auf Antwort.
desk-summary-waiting = Wartet auf Antwort ({ $count }):
desk-summary-line = • { $driver } — seit { $since } ({ $minutes } Min.), { $owner } — { $link }
desk-summary-broadcasts = Rundsendungen, die nicht alle gelesen haben ({ $count }):
desk-summary-unread = { $unread } von { $recipients } nicht gelesen
desk-summary-unread-unacknowledged = { $unread } von { $recipients } nicht gelesen, { $unacknowledged } nicht bestätigt
desk-summary-failed = Fehlgeschlagene oder vielleicht nicht angekommene Nachrichten, letzte 24 h ({ $count } Fahrer):
desk-summary-failed-line = • { $driver }: { $count } Nachricht(en) — { $link }
desk-off = Der gemeinsame Posteingang ist aus (inbox.enabled).
desk-on-shift-not-yet = Laut Ihrer Angabe im Dienst; laut Verzeichnis hat Ihre Schicht noch nicht begonnen, die Meldungen der Dispo-Räume erwähnen Sie erst ab Schichtbeginn.
desk-on-shift = Im Dienst: die Meldungen der Dispo-Räume erwähnen Sie wieder.
desk-off-shift = Außer Dienst: die Meldungen der Dispo-Räume erwähnen Ihre Kolleginnen und Kollegen im Dienst (Sie, wenn niemand im Dienst ist); was Sie übernommen haben, bleibt bei Ihnen. on-shift, wenn Sie zurück sind.
desk-late = ⏰ { $name } wartet seit { $waited } auf Antwort
desk-escalated = ⚠️ { $name } hat nach { $waited } noch keine Antwort
desk-urgent-said = 🆘 Dringend von { $name }: „{ $line }“
desk-urgent = 🆘 Dringend von { $name }
desk-room-topic = Der gemeinsame Posteingang: die Übersicht dessen, was auf Antwort wartet, Nachrichten von Fahrern, die zu lange warten, und dringende sofort. Geführt von der Bridge.
desk-room-name = Dispo
desk-room-name-scoped = Dispo · { $scope }
desk-waited-moment = weniger als einer Minute
desk-waited-minutes = { $minutes } Min.
desk-waited-hours = { $hours } Std. { $minutes } Min.
desk-assign-usage = Nicht an den Fahrer gesendet. Aufruf: !assign @Kollegin (erwähnen).
desk-assign-not-theirs = Nicht zugewiesen: sie darf diesen Fahrer nicht sehen.
desk-handover-usage = Aufruf: handover @Kollegin (ihre Matrix-ID).
desk-handed-over = { $count } offene(s) Gespräch(e) an { $to } übergeben.
desk-handed-over-some = { $count } offene(s) Gespräch(e) an { $to } übergeben; { $kept } bleiben bei Ihnen (sie darf diese Fahrer nicht sehen): { $drivers }.

## Übersicht und Bericht einer Rundsendung

stage-pending = ausstehend
stage-held = zurückgehalten (außer Dienst)
stage-sent = gesendet
stage-received = empfangen
stage-read = gelesen
stage-failed = fehlgeschlagen
stage-unknown = Ergebnis unbekannt
board-summary = 📢 Rundsendung an { $total } Fahrer: gesendet { $sent } · empfangen { $received }
board-read = gelesen { $count }
board-acknowledged = bestätigt { $count }
board-declined = abgelehnt { $count }
board-failed-count = fehlgeschlagen { $count }
board-unknown = Ergebnis unbekannt { $count }
board-pending = unterwegs { $count }
board-held = zurückgehalten, Fahrer außer Dienst { $count }
board-of = (von { $total })
board-not-read = Noch nicht gelesen
board-not-acknowledged = Gelesen, noch nicht bestätigt
board-failed = Fehlgeschlagen
board-answers = Antworten
board-more = und { $count } weitere (!report zeigt alle)
report-private = Zeiten pro Person werden in einem Raum, den die Dispo teilt, nicht gezeigt (privacy.receipt_detail).
report-head = Pro Empfänger: Stand · gesendet · empfangen · gelesen · bestätigt

## Auswahlen (select, broadcast, save-list)

select-head = 📢 { $selection }: { $count } Empfänger
select-left-out = Nicht dabei ({ $count }):
select-more = und { $count } weitere
select-out-of-scope = { $count } Fahrer außerhalb Ihres Zuständigkeitsbereichs
select-balance-unknown = Guthaben unbekannt (das Gateway hat nicht geantwortet)
select-cost = Kosten: { $cost } Credit(s) pro Textnachricht (eine Datei kostet mehr); { $balance }.
select-why-left = ist nicht mehr im Unternehmen
select-why-no-id = hat im Verzeichnis keine Threema-ID
select-why-out-of-scope = liegt außerhalb Ihres Zuständigkeitsbereichs
select-why-unknown = ist kein Fahrer, den die Bridge kennt (öffnen Sie zuerst einen Chat mit start <ID>)
select-nobody = Niemand, dem geschrieben werden kann: es wurde kein Rundsende-Raum geöffnet.
select-no-credits = ⚠️ Nicht genug Guthaben für eine Nachricht an alle: die Rundsendung wurde nicht gestartet und kein Raum geöffnet. Laden Sie zuerst das Gateway-Konto auf.
select-room-live = Rundsende-Raum (live: die Auswahl wird für jede Nachricht neu ausgewertet): { $link } — Sie sind eingeladen.
select-room-frozen = Rundsende-Raum (fest: diese Empfänger, bis Sie dort !refresh senden): { $link } — Sie sind eingeladen.
select-recipients = Empfänger:
    { $list }
select-save-usage = Aufruf: save-list <Name> <Auswahl>
select-list-theirs = list:{ $name } ist die Liste einer Kollegin und bleibt, wie sie sie gespeichert hat. Speichern Sie Ihre unter einem anderen Namen.
select-list-saved = list:{ $name } = { $selection } gespeichert (jetzt { $count } Empfänger). Verwenden Sie sie als broadcast list:{ $name }.
select-not-understood = Die Auswahl „{ $selection }“ ist nicht verständlich: { $error }.

## Zustellstand einer Nachricht (status <Link>)

status-not-sent = Diese Nachricht wurde nicht an Threema gesendet (nicht aus einem Fahrer-Chat, oder nicht Ihre).
status-parts = In { $parts } Teilen gesendet; der Stand des ersten Teils:
status-earlier-tries = nach { $count } früheren Versuch(en)
status-counts-read = { $total } Empfänger: gesendet { $sent } · empfangen { $received } · gelesen { $read } · fehlgeschlagen { $failed } · unterwegs { $waiting } (nicht pro Person: privacy.receipt_detail)
status-counts = { $total } Empfänger: gesendet { $sent } · empfangen { $received } · fehlgeschlagen { $failed } · unterwegs { $waiting } (nicht pro Person: privacy.receipt_detail)
status-held = zurückgehalten bis { $at } (der Fahrer ist außer Dienst; !urgent sendet sie jetzt)
status-queued = in der Warteschlange seit { $at }
status-sending = wird gesendet
status-failed = fehlgeschlagen um { $at }: { $reason } (reagieren Sie mit { $resend } auf die Nachricht, um sie erneut zu senden)
status-unknown = Ergebnis unbekannt seit { $at }: das Threema Gateway hat es nicht bestätigt
status-read = gelesen { $at }
status-received = empfangen { $at }
status-sent = gesendet { $at }
status-acknowledged = 👍 bestätigt { $at }
status-declined = 👎 abgelehnt { $at }

## Verschlüsselte Räume, unbekannte Absender, Guthaben

encrypted-portal = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet: was hier geschrieben wird, erreicht den Fahrer nicht. Wenden Sie sich an Ihre Administration.
encrypted-broadcast-room = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet: Rundsendungen von hier werden nicht gesendet. Öffnen Sie aus Ihrem Verwaltungsraum einen neuen Rundsende-Raum.
encrypted-command-room = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet: Befehle hier werden nicht gelesen.
encrypted-dm-not-permitted = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet; Sie dürfen die Bridge außerdem nicht verwenden.
encrypted-dm-nowhere = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet, und dieser Homeserver verschlüsselt jeden neuen Raum: ich kann Ihre Befehle nicht lesen. Wenden Sie sich an Ihre Administration.
encrypted-dm-moved = Dieser Raum ist verschlüsselt, die Bridge ist ohne Verschlüsselung eingerichtet: ich kann nicht lesen, was Sie hier schreiben. Ich habe Sie in einen unverschlüsselten Raum „{ $name }“ eingeladen: geben Sie mir dort Ihre Befehle.
undecryptable = ⚠️ Diese Nachricht konnte nicht entschlüsselt werden: ihr Schlüssel hat die Bridge nicht erreicht (der Homeserver kann ihn während eines Neustarts der Bridge verloren haben), sie ging nicht an den Fahrer. Ihre App behält diesen Schlüssel eine Weile; wenn sich das wiederholt, wenden Sie sich an Ihre Administration.
management-room-name = Threema-Bridge
management-room-topic = Befehle an die Threema-Bridge. Nicht verschlüsselt: die Bridge ist ohne Verschlüsselung eingerichtet.
quarantine-message = 📥 { $from }{ $nickname } ist kein bekannter Fahrer und schrieb: { $what }
    Um einen Chat mit ihm zu öffnen, antworten Sie hier: start { $from }
quarantine-room-name = Threema: unbekannte Absender
quarantine-room-topic = Nachrichten von Threema-IDs, die keine bekannten Fahrer sind. Antworten Sie `start <ID>`, um einen Chat mit einem zu öffnen.
credits-low = ⚠️ Das Threema-Gateway-Konto { $gateway } hat noch { $balance } Credits (Warnung unter { $below }). Jede Nachricht an einen Fahrer kostet einen; sind sie aufgebraucht, schlagen Nachrichten fehl. Laden Sie das Konto im Gateway-Verwaltungsbereich auf.
broadcast-escalation = ⏰ { $sender }: erst { $read } von { $total } Empfängern ({ $percent } %) haben dies nach { $minutes } Minute(n) gelesen. !report zeigt wer; !resend-unread (als Antwort darauf) sendet es ihnen erneut.

## Was nicht an Threema gehen kann

refused-edit-of-parts = Diese Nachricht ging in mehreren Teilen an Threema, die Änderung wurde daher nicht gesendet. Senden Sie die Korrektur als neue Nachricht.
refused-edit-of-colleagues = Nicht an Threema gesendet: nur wer eine Nachricht geschrieben hat, kann sie auf dem Telefon des Fahrers ändern.
refused-edit-of-drivers = Die Nachricht eines Fahrers kann auf Threema nicht geändert werden.
refused-delete-of-colleagues = Nur hier entfernt: nur wer eine Nachricht geschrieben hat, kann sie auf dem Telefon des Fahrers löschen.
refused-delete-of-drivers = Nur hier entfernt: die Nachricht eines Fahrers kann auf seinem Telefon nicht gelöscht werden.
refused-type = Nachrichten vom Typ { $msgtype } können nicht an Threema gesendet werden.
refused-location = Dieser Standort konnte nicht gesendet werden: er hat keine geo:-URI, die die Bridge lesen kann.
refused-edit-not-text = Auf Threema kann nur Text geändert werden.
refused-edit-too-long = Der geänderte Text ist für Threema zu lang ({ $bytes } von höchstens { $max } Bytes); die Änderung wurde nicht gesendet.
refused-poll-question = Diese Umfrage wurde nicht gesendet: ihre Frage ist mit Ihrem Namen länger als Threemas { $max } Bytes. Kürzen Sie sie und starten Sie sie erneut.
refused-poll-answer = Diese Umfrage wurde nicht gesendet: Antwort { $n } ist länger als Threemas { $max } Bytes.
refused-poll-too-large = Diese Umfrage wurde nicht gesendet: Frage und Antworten zusammen sind mehr, als eine Threema-Umfrage fasst. Verwenden Sie weniger oder kürzere Antworten.
refused-poll-edited = Änderungen einer Umfrage werden nicht gesendet: der Fahrer behält die erste Fassung. Beenden Sie sie und starten Sie eine neue.
refused-poll-not-understood = Diese Umfrage ist nicht verständlich (ihr Format ist keines, das Element oder die Matrix-Spezifikation sendet), sie wurde daher nicht gesendet.
refused-poll-empty = Eine Umfrage braucht eine Frage und mindestens eine Antwort.

## Warum eine Nachricht an einen Fahrer fehlschlug

failed-gave-up = sie konnte { $minutes } Minute(n) lang nicht gesendet werden ({ $error })
failed-no-credits = das Threema-Gateway-Konto hat kein Guthaben mehr
failed-bad-recipient = das Threema Gateway nimmt diesen Empfänger nicht an
failed-too-large = zu groß für Threema
failed-credentials = die Zugangsdaten der Bridge für das Threema Gateway wurden abgelehnt (IT informieren)
failed-driver-left = der Fahrer ist nicht mehr im Unternehmen; es wird nichts mehr an diese Person gesendet
failed-restricted = nicht gesendet: die Daten des Fahrers sind wegen einer Löschsperre (Legal Hold) eingeschränkt
failed-no-such-id = diese Threema-ID gibt es nicht (mehr)
failed-edited-never-sent = die geänderte Nachricht hat den Fahrer nie erreicht
failed-drivers-message-unknown = die Nachricht des Fahrers ist auf Threema nicht bekannt
failed-template = ein Textbaustein wurde unausgefüllt in die Warteschlange gestellt
failed-deleted-never-sent = die gelöschte Nachricht hat den Fahrer nie erreicht
failed-poll-never-sent = die Umfrage hat den Fahrer nie erreicht
failed-drivers-poll-unknown = die Umfrage des Fahrers ist nicht bekannt
failed-attachment = der Anhang konnte nicht vom Homeserver geholt werden: { $error }
failed-poll-too-large = die Umfrage ist größer, als eine Threema-Umfrage sein darf

## Dateien und Nachrichten eines Fahrers, die die Bridge nicht zeigen konnte

file-too-large = 📎 { $name } ({ $size }) wurde nicht übertragen: der Homeserver nimmt Dateien bis { $limit } an.
file-over-limit = 📎 { $name } (über { $limit }) wurde nicht übertragen: der Homeserver nimmt Dateien bis { $limit } an.
file-gone = 📎 Eine Datei war bei Threema nicht mehr verfügbar und wurde nicht übertragen. Bitte fragen Sie erneut danach.
file-not-fetched = 📎 Eine Datei konnte nicht von Threema geholt werden ({ $attempts } Versuche) und wurde nicht übertragen. Bitte fragen Sie erneut danach.
file-refused-by-homeserver = 📎 { $name } ({ $size }) wurde nicht übertragen: der Homeserver nimmt so große Dateien nicht an.
callback-unreadable = ⚠️ Das Threema Gateway hat eine Nachricht geliefert, deren { $field } nicht lesbar ist (Threema-Eingang, Zeile { $row }). Sie bleibt dort und wurde nicht übertragen.
reply-not-here = ↩️ (Antwort auf eine Nachricht, die nicht in diesem Raum ist)

## Räume, die die Bridge geschlossen hält, das Verzeichnis

room-no-longer-permitted = In diesem Raum nicht mehr zugelassen.
room-only-bridge-invites = In diesen Raum lädt nur die Bridge ein.
directory-sync-stopped = ⚠️ Abgleich mit dem Verzeichnis angehalten: { $why }
location-body = 📍 Standort: { $coordinates }
poll-text-poll = Umfrage
poll-text-closed = beendet
poll-text-multiple = Mehrfachauswahl
poll-text-single = eine Antwort
poll-text-choice = Antwort #{ $id }
poll-text-withdrew = 🗳️ Stimme zurückgenommen
poll-text-voted = 🗳️ Abgestimmt: { $choices }
poll-text-withdrew-elsewhere = 🗳️ Stimme in einer Umfrage zurückgenommen, die nicht in diesem Raum ist
poll-text-voted-elsewhere = 🗳️ Abgestimmt in einer Umfrage, die nicht in diesem Raum ist: Antwort { $choices }

## Die Antworten zum Datenschutz für Admins (erase, export, hold, requests, retention) und der
## Bericht des Verzeichnisabgleichs.
mgmt-homeserver-failed = Der Homeserver hat es nicht ausgeführt ({ $error }); was erledigt ist, bleibt: bitte noch einmal.
mgmt-erase-usage = Aufruf: erase <Personalnummer, Threema-ID oder Matrix-ID> [--dry-run] [--force]
mgmt-erased = Gelöscht (Löschnachweis { $tombstone }):
    { $report }
mgmt-erase-dry-run = Würde löschen:
    { $report }
    Nichts geändert (--dry-run).
mgmt-erase-held = Unter Löschsperre (Legal Hold), nichts gelöscht:
    { $holds }
erase-report-homeserver = Homeserver { $step }: { $what }
erase-report-table = Bridge-Tabelle { $table }: { $count ->
        [one] 1 Zeile
       *[other] { $count } Zeilen
    }
subject-employee = Mitarbeiter { $id }
subject-driver = Threema-ID { $id }
subject-user = Matrix-ID { $id }
target-employee = Mitarbeiter { $id }
target-driver = Fahrer { $id }
target-user = Benutzer { $id }
target-room = Raum { $id }
refused-not-a-user-id = „{ $text }“ ist keine Matrix-Benutzer-ID; nichts geändert
refused-nobody-named = „{ $text }“ ist weder eine Personalnummer aus dem Verzeichnis noch eine Threema-ID oder Matrix-Benutzer-ID; nichts geändert
refused-not-a-room-id = „{ $text }“ ist keine Raum-ID; nichts geändert
refused-not-a-portal-alias = „{ $text }“ ist keine Adresse eines Fahrer-Chats (#threema_<id>:{ $domain }); bitte den Raum über seine ID angeben
refused-no-portal = { $driver } hat keinen Fahrer-Chat
refused-still-active = { $subject } ist im Verzeichnis noch aktiv: zuerst austragen (oder --force, dann bringt der nächste Verzeichnisabgleich die Person zurück); nichts geändert
refused-nothing-to-erase = { $subject } hat weder eine Threema-ID noch ein Matrix-Konto; nichts geändert
refused-hold-without-reason = eine Löschsperre braucht einen Grund; nichts geändert
refused-no-hold-on = für { $target } gilt keine Löschsperre; nichts geändert
unfinished-room-delete-failed = der Homeserver konnte { $room } nicht löschen (Aufgabe { $task }); siehe sein Log, dann das Löschen erneut ausführen
unfinished-room-deleting = { $room } wird noch gelöscht; das Löschen später erneut ausführen, um es abzuschließen
unfinished-purge-failed = der Homeserver konnte den Verlauf von { $room } nicht bereinigen (Vorgang { $purge }); siehe sein Log; der nächste Durchlauf versucht es erneut
unfinished-purging = der Verlauf von { $room } wird noch bereinigt (Vorgang { $purge }); der nächste Durchlauf sieht wieder nach
hold-set = Löschsperre { $id } für { $target } gesetzt
hold-already = für { $target } gilt bereits eine Löschsperre; nichts geändert
hold-released = Löschsperre für { $target } aufgehoben
hold-none = Keine Löschsperren.
hold-usage = Aufruf: hold set <Personalnummer, Threema-ID, Matrix-ID oder Raum> --reason <Text> [--case <Aktenzeichen>] · hold release <…> · hold list [all]
hold-line = Löschsperre { $id } für { $target }: gesetzt { $at } von { $by };{ $case } { $reason }{ $released }
hold-case = { " " }Aktenzeichen { $case };
hold-released-at = { " " }(aufgehoben { $at } von { $by })
request-line = #{ $id } { $kind ->
        [export] Auskunft
       *[erasure] Löschung
    } für { $subject }: eingegangen { $received }, fällig { $due } ({ $when }), erfasst von { $by }
request-due-today = heute fällig
request-overdue = { $days ->
        [one] seit 1 Tag überfällig
       *[other] seit { $days } Tagen überfällig
    }
request-days-left = { $days ->
        [one] noch 1 Tag
       *[other] noch { $days } Tage
    }
request-reminder = DSGVO-Anfrage { $request } — beantworten mit `gdpr { $verb } { $subject }` (oder schließen mit `gdpr requests done { $id }`).
export-summary-messages = messages.jsonl, messages.html: { $count ->
        [one] 1 Ereignis
       *[other] { $count } Ereignisse
    }
export-summary-media = media/: { $count ->
        [one] 1 Datei
       *[other] { $count } Dateien
    }, { $bytes } Bytes
export-summary-delivery = delivery.csv: { $count ->
        [one] 1 Zeile
       *[other] { $count } Zeilen
    }
export-summary-audit = audit.jsonl: { $count ->
        [one] 1 Eintrag
       *[other] { $count } Einträge
    }
export-summary-profile = profile.json: { $what }
export-summary-profile-record = Verzeichniseintrag mit seiner Geschichte
export-summary-profile-ids = nur IDs (nicht im Verzeichnis)
export-summary-colleagues = pseudonymisierte Kollegen: { $count }
export-summary-due = fällig am { $day }
retention-gone = gelöscht
retention-would-go = würden gelöscht
retention-report-history = Homeserver: { $events } Ereignis(se) und { $media } Medien in { $rooms } Fahrer-Chat(s){ $desks ->
        [0] {""}
       *[other] { " " }und { $desks } Desk-Raum/-Räumen
    } { $verb }
retention-report-media = Homeserver: { $count } Datei(en) älter als media_days { $verb } (ihre Ereignisse bleiben)
retention-report-held = durch Löschsperre erhalten: { $count } Fahrer-Chat(s)
retention-report-texts = Bridge: { $count } Disponententext(e) von Sendungen { $verb }
retention-report-delivery-times = Bridge: die Zustellzeiten von { $count } Sendung(en) { $verb } (ihr Zustand bleibt)
retention-report-polls = Bridge: { $polls } Umfrage(n) mit ihren Stimmen, { $statuses } Fahrerstatus und Standort(e) { $verb }
retention-report-audit = Bridge: { $count } Audit-Einträge { $verb }
retention-report-inboxes = Bridge: { $matrix } Matrix- und { $threema } Threema-Eingangszeilen, { $state } Raumzustandszeilen gelöscht
retention-report-inboxes-not-counted = Bridge: Eingangszeilen älter als retention.inbox_days werden nicht gezählt
sync-source-refused = { $source }: ABGELEHNT: { $why }
sync-source-changes = { $source }: { $count ->
        [one] 1 Änderung
       *[other] { $count } Änderungen
    }
sync-skipped = übersprungen: { $problem }
sync-problem = Problem: { $problem }
sync-would-do = würde { $count ->
        [one] 1 Aktion
       *[other] { $count } Aktionen
    } ausführen
sync-planned = { $count ->
        [one] 1 Aktion
       *[other] { $count } Aktionen
    } geplant
sync-applied = ausgeführt { $applied }, fehlgeschlagen { $failed }, Anfragen an den Homeserver { $calls }
sync-failed = fehlgeschlagen: { $what }
snapshot-empty = der Stand aus { $origin } ist leer; ein leerer Export wird nie übernommen
snapshot-too-many-offboarded = der Stand aus { $origin } würde { $offboard } von { $active } aktiven Personen austragen ({ $percent } %), mehr als die erlaubten { $allowed } %; bitte den Export prüfen oder ihn trotzdem übernehmen mit `directory sync --force`
change-added = hinzugefügt: { $role ->
        [driver] Fahrer
       *[dispatcher] Disponent
    } { $name } ({ $id }){ $active ->
        [no] , inaktiv
       *[yes] {""}
    }
change-removed = entfernt: { $name } ({ $id })
change-changed = geändert: { $name } ({ $id }): { $what }
action-room-portal = Fahrer-Chat von { $id }
action-room-space = Space { $key }
action-ghost = Ghost von { $driver }: Name „{ $name }“
action-create-portal = Fahrer-Chat „{ $name }“ für { $driver } anlegen, { $count } eingeladen
action-link-portal = { $room } als Fahrer-Chat von Mitarbeiter { $employee } vermerken
action-move-driver = { $room } von { $from } auf die neue Threema-ID { $to } umziehen
action-create-space = Space „{ $name }“ ({ $key }) mit { $rooms ->
        [one] 1 Raum
       *[other] { $rooms } Räumen
    } anlegen, { $count } eingeladen
action-set-name = { $room } umbenennen in „{ $name }“
action-set-topic = Thema von { $room }: „{ $topic }“
action-add-child = { $child } zu Space { $space } hinzufügen
action-remove-child = { $child } aus Space { $space } entfernen
action-invite = { $user } in { $room } einladen
action-kick = { $user } aus { $room } entfernen ({ $reason })
action-read-only = { $room }: { $read_only ->
        [yes] nur lesen
       *[no] beschreibbar
    }
action-ghost-join = Ghost von { $driver } tritt { $room } bei
action-ghost-leave = Ghost von { $driver } verlässt { $room }
action-deactivate = Konto { $user } deaktivieren

## Die Integrations-API.
api-portal-copy = 🔌 { $client }: { $text }
job-title = 📋 Auftrag: { $title }
job-answer-accept-decline = Mit 👍 annehmen oder mit 👎 ablehnen (Nachricht lange drücken).
job-answer-codes = Antworten Sie mit einem Code: { $codes }
desk-jobs = 📋 Aufträge (letzte 24 h), neueste zuerst:
desk-job-line = • { $driver } — { $title } ({ $client }): { $state } um { $at } — { $link }
desk-job-open = offen
desk-job-accepted = ✅ angenommen
desk-job-declined = ❌ abgelehnt
desk-job-failed = ⚠️ nicht zugestellt
retention-report-api = Bridge: { $count } Nachricht(en) und Auftrag/Aufträge der Integrations-API { $verb }
mgmt-status-webhooks = Wartende Webhook-Ereignisse: { $waiting }, aufgegeben in den letzten 24 h: { $given_up }
job-answer-poll = Antworten Sie in der folgenden Umfrage.
