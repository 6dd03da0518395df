"""Extra data for benchmarks/commands.py: a shipments ledger and an Olist-style order export.

benchmarks/generate.py writes only ledgers/tickets.csv. `logistics check` needs parcels and
`import olist_orders` needs an order file, so this module makes both, seeded and
reproducible:

- `append_shipments(ws, n, seed)` appends n rows to ws/ledgers/shipments.csv, one parcel
  per row (unique waybill), shipped over the 12 months before 2026-11-23T12:00:00+08:00,
  sorted by time. Most parcels are signed by the customer (本人); some by someone else
  (代签, so `logistics check` has signers to verify); the recent ones are still in
  transit, some of them stale or never collected. Every row goes through
  `ledger.encode_rows(schema, rows, policy)`, which validates it against the shop's policy.
- `write_olist_orders(dirpath, n, seed)` writes olist_orders_dataset.csv (n orders) and
  olist_customers_dataset.csv (one customer per order) in the columns of the public Olist
  export, which the `olist_orders` mapping of the demo shop's policies/imports.toml reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from aftersales import ledger

TZ = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=TZ)
COURIERS = ("sf", "zto", "yto", "sto", "yunda", "jd", "ems", "jt")
REGIONS = (("浙江", 18), ("江苏", 12), ("上海", 8), ("安徽", 4), ("广东", 12), ("北京", 6), ("山东", 6), ("四川", 5),
           ("湖北", 4), ("河南", 4), ("福建", 4), ("湖南", 3), ("新疆", 1), ("甘肃", 1), ("海南", 1), ("内蒙古", 1))
CITIES = {"浙江": "杭州市", "江苏": "南京市", "上海": "上海市", "广东": "深圳市", "北京": "北京市"}


def append_shipments(ws: Path, n: int, seed: int = 7) -> int:
    """Append n parcels to ws/ledgers/shipments.csv; returns the number of rows written."""
    from aftersales.policy import load_policy

    rng = random.Random(seed)
    policy = load_policy(ws)
    schema = ledger.LEDGERS["shipments"]
    regions = [r for r, _w in REGIONS]
    weights = [w for _r, w in REGIONS]
    start = NOW - dt.timedelta(days=365)
    span = 365 * 86400
    rows = []
    for i in range(n):
        # volume grows towards the end of the year, as the ticket ledger does
        shipped = start + dt.timedelta(seconds=int(span * (rng.random() ** 0.8)))
        shipped = shipped.replace(microsecond=0)
        courier = rng.choice(COURIERS)
        region = rng.choices(regions, weights)[0]
        dest = region + CITIES.get(region, "")
        day = shipped.strftime("%Y%m%d")
        row = {"waybill": f"{courier.upper()}{day}{i:07d}", "order": f"TB{day}{rng.randrange(10**6):06d}",
               "courier": courier, "destination": dest, "shipped_at": ledger.format_time(shipped), "source": "bench"}
        at = shipped
        age = NOW - shipped
        r = rng.random()
        if age > dt.timedelta(days=6) or r < 0.5:
            collected = shipped + dt.timedelta(minutes=rng.randrange(30, 20 * 60))
            signed = collected + dt.timedelta(minutes=rng.randrange(12 * 60, 5 * 24 * 60))
            if signed < NOW:
                row["collected_at"] = ledger.format_time(collected)
                row["last_update_at"] = ledger.format_time(signed)
                row["signed_at"] = ledger.format_time(signed)
                row["signed_by"] = "本人" if rng.random() < 0.97 else rng.choice(("门卫", "驿站", "家人", "前台"))
                at = signed
            elif collected < NOW:
                row["collected_at"] = ledger.format_time(collected)
                at = collected
        elif r < 0.9:  # in transit, updated some time ago (stale or not)
            collected = shipped + dt.timedelta(minutes=rng.randrange(30, 30 * 60))
            if collected < NOW:
                row["collected_at"] = ledger.format_time(collected)
                upd = collected + (NOW - collected) * rng.random()
                row["last_update_at"] = ledger.format_time(upd.replace(microsecond=0))
                at = upd.replace(microsecond=0)
        # else: shipped, never collected
        row["at"] = ledger.format_time(at)
        rows.append(row)
    rows.sort(key=lambda r: r["at"])
    data = ledger.encode_rows(schema, rows, policy)
    with open(ledger.ledger_path(ws, "shipments"), "ab") as f:
        f.write(data)
    return len(rows)


OLIST_STATES = ("SP", "RJ", "MG", "RS", "PR", "SC", "BA", "DF", "GO", "ES", "PE", "CE")


def write_olist_orders(dirpath: Path, n: int, seed: int = 11) -> Path:
    """Write olist_orders_dataset.csv (n orders) and olist_customers_dataset.csv; returns the orders file."""
    rng = random.Random(seed)
    dirpath = Path(dirpath)
    dirpath.mkdir(parents=True, exist_ok=True)
    orders = dirpath / "olist_orders_dataset.csv"
    customers = dirpath / "olist_customers_dataset.csv"
    start = dt.datetime(2017, 1, 1)
    fmt = "%Y-%m-%d %H:%M:%S"
    with open(orders, "w", encoding="utf-8", newline="") as fo, \
            open(customers, "w", encoding="utf-8", newline="") as fc:
        wo, wc = csv.writer(fo, lineterminator="\n"), csv.writer(fc, lineterminator="\n")
        wo.writerow(("order_id", "customer_id", "order_status", "order_purchase_timestamp", "order_approved_at",
                     "order_delivered_carrier_date", "order_delivered_customer_date",
                     "order_estimated_delivery_date"))
        wc.writerow(("customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city",
                     "customer_state"))
        for _ in range(n):
            oid, cid, uid = (f"{rng.getrandbits(128):032x}" for _ in range(3))
            bought = start + dt.timedelta(seconds=rng.randrange(600 * 86400))
            approved = bought + dt.timedelta(minutes=rng.randrange(5, 600))
            carrier = approved + dt.timedelta(minutes=rng.randrange(60, 4 * 24 * 60))
            signed = carrier + dt.timedelta(minutes=rng.randrange(24 * 60, 20 * 24 * 60))
            est = (bought + dt.timedelta(days=rng.randrange(10, 40))).replace(hour=0, minute=0, second=0)
            r = rng.random()
            if r < 0.93:
                status, c, s = "delivered", carrier.strftime(fmt), signed.strftime(fmt)
            elif r < 0.97:
                status, c, s = "shipped", carrier.strftime(fmt), ""
            else:
                status, c, s = rng.choice(("canceled", "invoiced", "processing")), "", ""
            wo.writerow((oid, cid, status, bought.strftime(fmt), approved.strftime(fmt), c, s, est.strftime(fmt)))
            wc.writerow((cid, uid, f"{rng.randrange(1000, 99999):05d}", "sao paulo", rng.choice(OLIST_STATES)))
    return orders
