//! The gateway: a plain `ws://` server that says HELLO, answers IDENTIFY
//! with READY, RESUME with RESUMED and heartbeats with HEARTBEAT_ACK.

#[allow(unused_imports)]
use super::*;

pub(super) fn frame(v: &Value) -> WsMessage {
    WsMessage::Text(v.to_string())
}

pub(super) fn send_dispatch(st: &mut FakeState, event: &str, data: Value) {
    st.seq += 1;
    let f = json!({"op": 0, "s": st.seq, "t": event, "d": data});
    if let Some((_, tx)) = &st.session {
        let _ = tx.send(frame(&f));
    }
}

pub(super) async fn gateway_connection(shared: Arc<Shared>, tcp: TcpStream, conn: u64) {
    let ws = match tokio_tungstenite::accept_async(tcp).await {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("fake Discord gateway: websocket handshake failed: {e}");
            return;
        }
    };
    shared.lock().ws_connections += 1;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    let hello = json!({"op": 10, "s": null, "t": null, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS, "_trace": ["fake-discord"]}});
    let _ = tx.send(frame(&hello));
    loop {
        tokio::select! {
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => on_gateway_frame(&shared, &tx, conn, &text),
                Some(Ok(WsMessage::Binary(_))) => {
                    let _ = tx.send(close(4002, "Decode error"));
                }
                Some(Ok(WsMessage::Close(_))) => {
                    // tungstenite has queued the closing handshake's reply; send it.
                    let _ = sink.close().await;
                    break;
                }
                None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            outgoing = rx.recv() => match outgoing {
                Some(msg) => {
                    let closing = matches!(msg, WsMessage::Close(_));
                    if sink.send(msg).await.is_err() || closing {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    let mut st = shared.lock();
    if st.session.as_ref().is_some_and(|(c, _)| *c == conn) {
        st.session = None;
    }
}

pub(super) fn close(code: u16, reason: &'static str) -> WsMessage {
    WsMessage::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }))
}

/// Handles one frame from the bot (replies go through `tx`, in order).
pub(super) fn on_gateway_frame(shared: &Shared, tx: &mpsc::UnboundedSender<WsMessage>, conn: u64, text: &str) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        let _ = tx.send(close(4002, "Decode error"));
        return;
    };
    let mut st = shared.lock();
    st.gateway_frames.push(v.clone());
    match v["op"].as_u64() {
        Some(1) => {
            let _ = tx.send(frame(&json!({"op": 11, "s": null, "t": null, "d": null})));
        }
        Some(2) => {
            let d = v["d"].clone();
            let token = d["token"].as_str().unwrap_or_default();
            if token.strip_prefix("Bot ").unwrap_or(token) != TOKEN {
                st.bad_identify = Some(format!("{token:?}"));
                let _ = tx.send(close(4004, "Authentication failed."));
                return;
            }
            let session_id = format!("fake-session-{conn}");
            st.identify = Some(d.clone());
            st.session_id = Some(session_id.clone());
            st.session = Some((conn, tx.clone()));
            st.seq = 0;
            let shard = if d["shard"].is_array() {
                d["shard"].clone()
            } else {
                json!([0, 1])
            };
            let ready = json!({
                "v": 10,
                "user": current_user(),
                "guilds": [],
                "session_id": session_id,
                "session_type": "normal",
                "resume_gateway_url": shared.gateway_url,
                "shard": shard,
                "application": {"id": APP_ID.to_string(), "flags": 0},
                "private_channels": [],
                "presences": [],
                "relationships": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": ["local"],
                "user_settings": {},
                "auth": {},
                "_trace": ["fake-discord"],
            });
            send_dispatch(&mut st, "READY", ready);
        }
        Some(6) => {
            let d = &v["d"];
            let token = d["token"].as_str().unwrap_or_default();
            let known = st.session_id.as_deref() == d["session_id"].as_str();
            if token.strip_prefix("Bot ").unwrap_or(token) != TOKEN {
                let _ = tx.send(close(4004, "Authentication failed."));
            } else if !known {
                let _ = tx.send(frame(&json!({"op": 9, "s": null, "t": null, "d": false})));
            } else {
                st.session = Some((conn, tx.clone()));
                send_dispatch(&mut st, "RESUMED", json!({"_trace": ["fake-discord"]}));
            }
        }
        // presence update, voice state, request guild members, soundboard: accepted, ignored
        Some(3 | 4 | 8 | 31) => {}
        _ => {
            let _ = tx.send(close(4001, "Unknown opcode"));
        }
    }
}

pub(super) fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
