"""`as intercept|lost|reship|short`: the registers of seed 001, one command group each.

The groups are built from aftersales.registers.SPECS, so every register has the same
verbs: new, update, list.
"""

import click

from .common import fmt_of, output_format


def _group(spec):
    @click.group(spec.name, help=f"Record and follow {spec.title}.\n\nEach update is a new row with the same id; "
                 "`list` shows the current state of each record.")
    def group():
        pass

    def new(app, ticket, note, **values):
        from .. import ids, ledger, registers, tickets

        ws = app.ws()
        policy, now, by = ws.policy, ws.now, ws.actor()
        tid = ""
        if ticket:
            t = tickets.load_ticket(ws.root, ticket)
            tid = t.id
            for c in ("order", "waybill", "courier"):  # what the ticket already knows
                if not values.get(c) and t.fields.get(c) and any(c == f for f, _r, _h in spec.new_fields):
                    values[c] = t.fields[c]
        row = registers.new_row(policy, spec, values, now, by, tid)
        row["note"] = note
        script = ""
        if spec.script and spec.script in policy.scripts:
            from ..replies import moment, render

            fields = dict(moment(policy, now, by), order=row.get("order", ""), new_waybill=row.get("new_waybill", ""),
                          courier=row.get("courier", ""))
            script = render(policy.scripts[spec.script].text, fields, f"script '{spec.script}'")
        ledger.append(ws.root, spec.ledger, [row], policy)
        click.echo(f"{spec.name} {row['id']}: {row['status']}" + (f" (ticket {ids.short(tid)})" if tid else ""))
        if script:
            click.echo(f"send to the customer ({policy.scripts[spec.script].name}):\n  {script}")

    params = [click.Option(["--" + c.replace("_", "-"), c], help=h) for c, _r, h in spec.new_fields]
    params += [click.Option(["--ticket"], help="The ticket this record belongs to (fills order, waybill, courier)."),
               click.Option(["--note"], default="", help="A free note.")]
    group.add_command(click.Command("new", callback=click.pass_obj(new), params=params,
                                    help=f"Record a new entry in the {spec.title} register."))

    @group.command("update")
    @click.argument("record")
    @click.option("--status", required=True, type=click.Choice(list(spec.next)), help="The new status.")
    @click.option("--amount", default="", help="Amount, for statuses that need one.")
    @click.option("--note", default="", help="A free note.")
    @click.pass_obj
    def update(app, record, status, amount, note):
        """Record a change of status (a new row; the old ones stay)."""
        from .. import ledger, registers

        ws = app.ws()
        with ledger.locked(ws.root):
            rec = registers.find(ws.root, spec, record)
            row = registers.update_row(spec, rec, status, ws.now, ws.actor(), amount, note)
            ledger.append(ws.root, spec.ledger, [row], ws.policy)
        click.echo(f"{spec.name} {rec.id}: {rec.row['status']} -> {status}")

    @group.command("list")
    @click.option("--all", "all_", is_flag=True, help="Records in a final status too.")
    @click.option("--status", multiple=True, type=click.Choice(list(spec.next)), help="Only these statuses.")
    @output_format
    @click.pass_obj
    def list_(app, all_, status, fmt):
        """The current state of each record, oldest first (open ones by default)."""
        from .. import ledger, registers
        from ..render import listing

        ws = app.ws()
        recs = sorted(registers.load(ws.root, spec).values(), key=lambda r: (r.history[0]["at"], r.id))
        rows = []
        for r in recs:
            st = r.row["status"]
            if status and st not in status or not status and not all_ and not spec.next[st]:
                continue
            rows.append(dict(r.row, opened_at=r.history[0]["at"], updates=len(r.history) - 1))
        cols = list(ledger.schema_of(spec.ledger).column_names) + ["opened_at", "updates"]
        f = fmt_of(app, fmt)
        if f == "table":
            cols = [c for c in cols if c not in ("by", "note") and any(r.get(c) for r in rows)] or ["id"]
        out = listing(rows, cols, f)
        click.echo(out or f"no {'' if all_ else 'open '}{spec.name} records", nl=not out)

    return group


from ..registers import SPECS  # noqa: E402  (light: dataclasses only)

intercept = _group(SPECS["intercept"])
lost = _group(SPECS["lost"])
reship = _group(SPECS["reship"])
short = _group(SPECS["short"])
