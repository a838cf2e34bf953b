//! The gateway: a plain `ws://` server that says HELLO, answers IDENTIFY
//! with READY, RESUME with RESUMED and heartbeats with HEARTBEAT_ACK. Each
//! identified connection is a shard (`d.shard: [id, total]`, docs:
//! events/gateway.mdx "Sharding"); events go only to the shard that carries
//! their guild.

#[allow(unused_imports)]
use super::*;

pub(super) fn frame(v: &Value) -> WsMessage {
    WsMessage::Text(v.to_string())
}

/// Sends an event to the session that carries `guild` (shard 0 for none);
/// false when no such session is identified.
pub(super) fn send_dispatch(st: &mut FakeState, event: &str, guild: Option<u64>, data: Value) -> bool {
    let Some(conn) = st.session_for(guild).map(|s| s.conn) else {
        return false;
    };
    send_to(st, conn, event, data)
}

/// Sends an event to the session on connection `conn`.
pub(super) fn send_to(st: &mut FakeState, conn: u64, event: &str, data: Value) -> bool {
    let Some(session) = st.sessions.iter_mut().find(|s| s.conn == conn) else {
        return false;
    };
    session.seq += 1;
    let f = json!({"op": 0, "s": session.seq, "t": event, "d": data});
    let sent = session.tx.send(frame(&f)).is_ok();
    let (id, shard, seq) = (session.session_id.clone(), session.shard, session.seq);
    st.resumable.insert(id, (shard, seq));
    sent
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
    shared.lock().sessions.retain(|s| s.conn != conn);
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
            let (id, total) = match d["shard"].as_array().map(Vec::as_slice) {
                Some([id, total]) => (id.as_u64().unwrap_or(u64::MAX), total.as_u64().unwrap_or(0)),
                _ => (0, 1),
            };
            if total == 0 || id >= total {
                let _ = tx.send(close(4010, "Invalid shard."));
                return;
            }
            let session_id = format!("fake-session-{conn}");
            st.identifies.push(d.clone());
            st.sessions.retain(|s| s.conn != conn);
            st.sessions.push(Session {
                conn,
                tx: tx.clone(),
                session_id: session_id.clone(),
                shard: (id, total),
                seq: 0,
            });
            let shard = json!([id, total]);
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
            send_to(&mut st, conn, "READY", ready);
        }
        Some(6) => {
            let d = &v["d"];
            let token = d["token"].as_str().unwrap_or_default();
            let session_id = d["session_id"].as_str().unwrap_or_default().to_string();
            let known = st.resumable.get(&session_id).copied();
            if token.strip_prefix("Bot ").unwrap_or(token) != TOKEN {
                let _ = tx.send(close(4004, "Authentication failed."));
            } else if let Some((shard, seq)) = known {
                st.sessions.retain(|s| s.conn != conn && s.session_id != session_id);
                st.sessions.push(Session {
                    conn,
                    tx: tx.clone(),
                    session_id,
                    shard,
                    seq,
                });
                send_to(&mut st, conn, "RESUMED", json!({"_trace": ["fake-discord"]}));
            } else {
                let _ = tx.send(frame(&json!({"op": 9, "s": null, "t": null, "d": false})));
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
