//! An incremental `text/event-stream` decoder: bytes go in as they arrive, whole events come
//! out. Lines end in `\n`, `\r\n` or `\r` (even split across chunks); comments (`:`) and
//! unknown fields are skipped; `data` lines of one event are joined with `\n`. One event,
//! including its unfinished line, may not exceed the size limit, so a hostile upstream cannot
//! make ArtGen buffer without bound.

use crate::error::OpenAiError;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, when one was sent.
    pub(crate) name: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// The decoder's state between chunks.
#[derive(Debug)]
pub(crate) struct SseDecoder {
    /// Received bytes not yet split into lines.
    buffer: Vec<u8>,
    /// How far `buffer` was already searched for a line end.
    scanned: usize,
    /// Whether the input ended: the last unterminated line counts as a line.
    ended: bool,
    name: Option<String>,
    data: String,
    /// Whether a `data:` line was seen for the current event.
    has_data: bool,
    limit: usize,
}

impl SseDecoder {
    /// A decoder refusing events over `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            buffer: Vec::new(),
            scanned: 0,
            ended: false,
            name: None,
            data: String::new(),
            has_data: false,
            limit,
        }
    }

    /// Appends received bytes.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.buffer.extend_from_slice(chunk);
    }

    /// Marks the end of the input.
    pub(crate) fn end(&mut self) {
        self.ended = true;
    }

    /// Whether [`Self::end`] was called.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// The next complete event, or `None` until more bytes arrive (or, after [`Self::end`],
    /// when nothing is left). At the end, a pending event without its closing blank line is
    /// still dispatched.
    pub(crate) fn next_event(&mut self) -> Result<Option<SseEvent>, OpenAiError> {
        loop {
            let Some(line) = self.next_line()? else {
                if self.ended {
                    return Ok(self.dispatch());
                }
                return Ok(None);
            };
            if line.is_empty() {
                if let Some(event) = self.dispatch() {
                    return Ok(Some(event));
                }
                continue;
            }
            self.field(&line)?;
        }
    }

    /// Splits off the next line (without its terminator).
    fn next_line(&mut self) -> Result<Option<String>, OpenAiError> {
        let found = self.buffer[self.scanned..]
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r'))
            .map(|at| at + self.scanned);
        let (end, skip) = match found {
            // A `\r` last in the buffer may be the first half of `\r\n`: wait for the next byte.
            Some(at) if self.buffer[at] == b'\r' && at + 1 == self.buffer.len() && !self.ended => {
                self.scanned = at;
                return Ok(None);
            }
            Some(at) if self.buffer[at] == b'\r' && self.buffer.get(at + 1) == Some(&b'\n') => {
                (at, 2)
            }
            Some(at) => (at, 1),
            None if self.ended && !self.buffer.is_empty() => (self.buffer.len(), 0),
            None => {
                self.scanned = self.buffer.len();
                if self.buffer.len().saturating_add(self.data.len()) > self.limit {
                    return Err(OpenAiError::TooLarge { limit: self.limit });
                }
                return Ok(None);
            }
        };
        let line = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
        self.buffer.drain(..end + skip);
        self.scanned = 0;
        Ok(Some(line))
    }

    /// Applies one non-empty line.
    fn field(&mut self, line: &str) -> Result<(), OpenAiError> {
        if line.starts_with(':') {
            return Ok(());
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => self.name = Some(value.to_owned()),
            "data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(OpenAiError::TooLarge { limit: self.limit });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // `id`, `retry` and unknown fields mean nothing for image streams.
            _ => {}
        }
        Ok(())
    }

    /// Ends the current event: dispatched when it had data, dropped otherwise.
    fn dispatch(&mut self) -> Option<SseEvent> {
        let name = self.name.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            name,
            data: std::mem::take(&mut self.data),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]], limit: usize) -> Result<Vec<SseEvent>, OpenAiError> {
        let mut decoder = SseDecoder::new(limit);
        let mut events = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            while let Some(event) = decoder.next_event()? {
                events.push(event);
            }
        }
        decoder.end();
        while let Some(event) = decoder.next_event()? {
            events.push(event);
        }
        Ok(events)
    }

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            name: name.map(str::to_owned),
            data: data.to_owned(),
        }
    }

    #[test]
    fn splits_events_on_blank_lines_whatever_the_line_ends_and_chunking() {
        let stream = b": keepalive\r\nevent: a\r\ndata: {\"x\":1}\r\n\r\nevent:b\rdata:2\r\rdata: 3\ndata: 4\n\n";
        let whole = decode(&[stream], 1024).expect("decodes");
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();

        assert_eq!(
            whole,
            [
                event(Some("a"), "{\"x\":1}"),
                event(Some("b"), "2"),
                event(None, "3\n4"),
            ]
        );
        assert_eq!(decode(&bytewise, 1024).expect("decodes"), whole);
    }

    #[test]
    fn events_without_data_are_dropped_and_a_final_event_without_blank_line_is_kept() {
        let events =
            decode(&[b"event: keepalive\n\nid: 3\nretry: 10\n\ndata: last"], 64).expect("decodes");

        assert_eq!(events, [event(None, "last")]);
    }

    #[test]
    fn refuses_an_event_over_the_limit_even_while_its_line_is_unfinished() {
        let long = vec![b'a'; 100];
        let unfinished: [&[u8]; 2] = [b"data: ", &long];
        let split_over_lines: [&[u8]; 1] =
            [b"data: aaaaaaaaaa\ndata: aaaaaaaaaa\ndata: aaaaaaaaaa\n"];

        assert!(matches!(
            decode(&unfinished, 64),
            Err(OpenAiError::TooLarge { limit: 64 })
        ));
        assert!(matches!(
            decode(&split_over_lines, 24),
            Err(OpenAiError::TooLarge { limit: 24 })
        ));
        let small: [&[u8]; 20] = [b"data: aa\n\n"; 20];
        assert_eq!(decode(&small, 16).expect("small").len(), 20);
    }
}
