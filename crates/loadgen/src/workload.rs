//! What the load consists of: realistic lead bodies (email, phone, IP, user agent, a landing URL with a
//! `ttclid`, a referrer, a source), later `lead_sold` events for a share of the leads, and batches mixing
//! both. Transaction ids carry the run's id, so the sandbox's events of this run can be told from any
//! other traffic. Bodies are built with plain string formatting: the tool must cost far less per request
//! than the server it measures.

use std::fmt::Write as _;

/// The request kinds the tool sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `POST /v1/leads` (fires `form_submit`).
    Lead,
    /// `POST /v1/leads/{transaction_id}/events` with `type = lead_sold`.
    Sold,
    /// `POST /v1/batch`.
    Batch,
    /// `GET` of a static route (the HTTP ceiling).
    Static,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lead => "lead",
            Kind::Sold => "lead_sold",
            Kind::Batch => "batch",
            Kind::Static => "static",
        }
    }
}

/// Generates bodies for one connection; ids are unique per (run, connection, sequence number).
#[derive(Debug, Clone)]
pub struct Workload {
    run_id: String,
    connection: usize,
    next: u64,
    /// Share of leads followed by a `lead_sold` (0..=1), decided by the sequence number so that it is
    /// reproducible and exact over a run.
    sold_per_mille: u64,
}

impl Workload {
    pub fn new(run_id: &str, connection: usize, sold_share: f64) -> Self {
        let share = if sold_share.is_finite() {
            sold_share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Self {
            run_id: run_id.to_owned(),
            connection,
            next: 0,
            sold_per_mille: (share * 1000.0).round() as u64,
        }
    }

    /// A fresh transaction id and whether this lead will be sold.
    pub fn next_lead(&mut self) -> (String, bool) {
        let n = self.next;
        self.next += 1;
        let id = format!("{}-{}-{}", self.run_id, self.connection, n);
        // Spread the sold leads evenly: lead n is sold when the running share crosses a whole lead.
        let sold = (n + 1) * self.sold_per_mille / 1000 > n * self.sold_per_mille / 1000;
        (id, sold)
    }

    /// The `POST /v1/leads` body for `transaction_id`.
    pub fn lead_body(transaction_id: &str) -> String {
        let mut body = String::with_capacity(420);
        push_lead(&mut body, transaction_id);
        body
    }

    /// The `lead_sold` event body (path: `/v1/leads/{transaction_id}/events`).
    pub fn sold_body(transaction_id: &str) -> String {
        let mut body = String::with_capacity(80);
        push_sold(&mut body, transaction_id);
        body
    }

    /// A `POST /v1/batch` body with up to `size` items: leads, each sold one followed by its sale.
    /// Returns the body, the leads and the sales it carries.
    pub fn batch_body(&mut self, size: usize) -> (String, usize, usize) {
        let size = size.max(1);
        let mut body = String::with_capacity(size * 440 + 16);
        body.push_str(r#"{"items":["#);
        let (mut items, mut leads, mut sales) = (0, 0, 0);
        while items < size {
            let (id, sold) = self.next_lead();
            if items > 0 {
                body.push(',');
            }
            body.push_str(r#"{"lead":"#);
            push_lead(&mut body, &id);
            body.push('}');
            items += 1;
            leads += 1;
            if sold && items < size {
                body.push_str(r#",{"event":{"transaction_id":""#);
                body.push_str(&id);
                body.push_str(r#"","type":"lead_sold","buyer":"acme","revenue":42.5}}"#);
                items += 1;
                sales += 1;
            }
        }
        body.push_str("]}");
        (body, leads, sales)
    }
}

fn push_lead(body: &mut String, transaction_id: &str) {
    // A realistic landing page lead: every identifier TikTok matches on, a ttclid in the URL.
    let h = transaction_id
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let _ = write!(
        body,
        concat!(
            r#"{{"transaction_id":"{id}","email":" Person.{id}@Example.com ","#,
            r#""phone":"(213) 373-{tail:04}","ip":"203.0.113.{ip}","#,
            r#""user_agent":"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148","#,
            r#""landing_url":"https://lp.example.com/quote?utm_source=tiktok&ttclid=E.C.P.{id}","#,
            r#""referrer":"https://www.tiktok.com/","source":"tiktok-spring"}}"#
        ),
        id = transaction_id,
        tail = h % 10_000,
        ip = 1 + h % 250,
    );
}

fn push_sold(body: &mut String, _transaction_id: &str) {
    body.push_str(r#"{"type":"lead_sold","buyer":"acme","revenue":42.5}"#);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_with_unique_run_scoped_ids() {
        let mut w = Workload::new("run1", 3, 0.25);
        let (a, _) = w.next_lead();
        let (b, _) = w.next_lead();
        assert_eq!(a, "run1-3-0");
        assert_ne!(a, b);
        let lead: serde_json::Value = serde_json::from_str(&Workload::lead_body(&a)).unwrap();
        assert_eq!(lead["transaction_id"], "run1-3-0");
        assert!(lead["landing_url"].as_str().unwrap().contains("ttclid="));
        let sold: serde_json::Value = serde_json::from_str(&Workload::sold_body(&a)).unwrap();
        assert_eq!(sold["type"], "lead_sold");
    }

    #[test]
    fn the_sold_share_is_exact_over_a_run() {
        let mut w = Workload::new("r", 0, 0.3);
        let sold = (0..1000).filter(|_| w.next_lead().1).count();
        assert_eq!(sold, 300);
        let mut none = Workload::new("r", 0, 0.0);
        assert!((0..100).all(|_| !none.next_lead().1));
    }

    #[test]
    fn a_batch_holds_at_most_size_items_with_sales_after_their_leads() {
        let mut w = Workload::new("r", 0, 0.5);
        let (body, leads, sales) = w.batch_body(10);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), leads + sales);
        assert!(items.len() <= 10);
        assert!(sales > 0);
        for (i, item) in items.iter().enumerate() {
            if let Some(event) = item.get("event") {
                let tx = event["transaction_id"].as_str().unwrap();
                assert_eq!(items[i - 1]["lead"]["transaction_id"], tx);
            }
        }
    }
}
