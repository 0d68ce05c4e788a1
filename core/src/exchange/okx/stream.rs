//! The private websocket: login, subscriptions to the `orders` and
//! `positions` channels, pushed updates, and order placement over the
//! socket (`op: "order"`).

use super::model::{Order, Position};
use super::rest::Request;
use crate::exchange::ExchangeError;
use serde::Deserialize;
use serde_json::{Value, json};

/// Subscribes to our swap orders and positions.
pub fn subscribe() -> Value {
    json!({
        "op": "subscribe",
        "args": [
            { "channel": "orders", "instType": "SWAP" },
            { "channel": "positions", "instType": "SWAP" },
            { "channel": "balance_and_position" }
        ]
    })
}

/// An order request sent over the socket instead of REST (same body).
pub fn ws_order(req: &Request, id: &str) -> Option<Value> {
    let op = match req.path {
        "/api/v5/trade/order" => "order",
        "/api/v5/trade/cancel-order" => "cancel-order",
        _ => return None,
    };
    Some(json!({ "id": id, "op": op, "args": [req.body.clone()?] }))
}

/// One message from the private socket.
#[derive(Debug, Clone, PartialEq)]
pub enum PrivateMessage {
    /// Answer to `login`: success or the reason.
    Login {
        ok: bool,
        code: String,
        msg: String,
    },
    Subscribed,
    Orders(Vec<Order>),
    Positions(Vec<Position>),
    /// Answer to an `order` / `cancel-order` op, raw.
    OpResult {
        id: String,
        body: Value,
    },
    Error {
        code: String,
        msg: String,
    },
    Other,
}

impl PartialEq for Order {
    fn eq(&self, other: &Self) -> bool {
        self.ord_id == other.ord_id
            && self.state == other.state
            && self.acc_fill_sz == other.acc_fill_sz
    }
}

impl PartialEq for Position {
    fn eq(&self, other: &Self) -> bool {
        self.inst_id == other.inst_id && self.pos == other.pos
    }
}

fn items<T: for<'de> Deserialize<'de>>(data: Vec<Value>) -> Result<Vec<T>, ExchangeError> {
    data.into_iter()
        .map(|d| serde_json::from_value(d).map_err(|e| ExchangeError::Malformed(e.to_string())))
        .collect()
}

#[derive(Deserialize)]
struct Push {
    arg: PushArg,
    #[serde(default)]
    data: Vec<Value>,
}

#[derive(Deserialize)]
struct PushArg {
    channel: String,
}

pub fn parse(text: &str) -> Result<PrivateMessage, ExchangeError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| ExchangeError::Malformed(e.to_string()))?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(event) = v.get("event").and_then(Value::as_str) {
        return Ok(match event {
            "login" => PrivateMessage::Login {
                ok: s("code") == "0",
                code: s("code"),
                msg: s("msg"),
            },
            "subscribe" => PrivateMessage::Subscribed,
            "error" => PrivateMessage::Error {
                code: s("code"),
                msg: s("msg"),
            },
            _ => PrivateMessage::Other,
        });
    }
    if v.get("op").is_some() && v.get("id").is_some() {
        return Ok(PrivateMessage::OpResult {
            id: s("id"),
            body: v,
        });
    }
    if v.get("arg").is_some() && v.get("data").is_some() {
        let push: Push =
            serde_json::from_value(v).map_err(|e| ExchangeError::Malformed(e.to_string()))?;
        return Ok(match push.arg.channel.as_str() {
            "orders" => PrivateMessage::Orders(items(push.data)?),
            "positions" => PrivateMessage::Positions(items(push.data)?),
            _ => PrivateMessage::Other,
        });
    }
    Ok(PrivateMessage::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_login_pushes_and_op_results() {
        assert_eq!(
            parse(r#"{"event":"login","code":"0","msg":"","connId":"a4d3ae55"}"#).unwrap(),
            PrivateMessage::Login {
                ok: true,
                code: "0".into(),
                msg: String::new()
            }
        );
        assert!(matches!(
            parse(r#"{"event":"error","code":"60009","msg":"Login failed.","connId":"a4d3ae55"}"#).unwrap(),
            PrivateMessage::Error { code, .. } if code == "60009"
        ));
        let push = r#"{"arg":{"channel":"orders","instType":"SWAP","uid":"1"},"data":[{"instId":"BTC-USDT-SWAP",
          "ordId":"1","clOrdId":"tb3x9e","side":"buy","state":"filled","sz":"2.39","accFillSz":"2.39","fillSz":"2.39",
          "fillPx":"43000.1","avgPx":"43000.1","fee":"-0.5","feeCcy":"USDT","uTime":"1"}]}"#;
        let PrivateMessage::Orders(o) = parse(push).unwrap() else {
            panic!()
        };
        assert_eq!(o[0].cl_ord_id, "tb3x9e");
        let op = r#"{"id":"1512","op":"order","data":[{"clOrdId":"tb3x9e","ordId":"1","tag":"","sCode":"0","sMsg":""}],"code":"0","msg":""}"#;
        assert!(matches!(parse(op).unwrap(), PrivateMessage::OpResult { id, .. } if id == "1512"));
    }
}
