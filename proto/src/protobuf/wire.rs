//! The protobuf wire format: a reader over one message's bytes.

/// A field value as it sits on the wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WireValue<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

impl WireValue<'_> {
    /// The wire type number, for error messages.
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Bytes(_) => 2,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// Reads `(field number, value)` pairs from one message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over the bytes of one message.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// The next field, `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, String> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| format!("field number {} out of range", key >> 3))?;
        if tag == 0 {
            return Err("field number 0 is invalid".to_string());
        }
        let value = match key & 7 {
            0 => WireValue::Varint(self.varint()?),
            1 => WireValue::Fixed64(u64::from_le_bytes(self.take_array::<8>()?)),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| format!("field {tag}: length {len} too large"))?;
                WireValue::Bytes(self.take(len).map_err(|e| format!("field {tag}: {e}"))?)
            }
            5 => WireValue::Fixed32(u32::from_le_bytes(self.take_array::<4>()?)),
            w => return Err(format!("field {tag}: unsupported wire type {w}")),
        };
        Ok(Some((tag, value)))
    }

    /// Reads one base-128 varint.
    pub fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err("truncated varint".to_string());
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".to_string())
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Reads 8 little-endian bytes (a packed `double`).
    pub fn fixed64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take_array::<8>()?))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(len).filter(|&e| e <= self.buf.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated: {len} bytes announced, {} left",
                self.buf.len() - self.pos
            ));
        };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // field 1 varint 300, field 2 fixed64 1, field 3 bytes "hi", field 4 fixed32 7
        let buf = [
            0x08, 0xac, 0x02, 0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0x1a, 2, b'h', b'i', 0x25, 7, 0, 0, 0,
        ];
        let mut r = Reader::new(&buf);
        assert_eq!(r.next_field(), Ok(Some((1, WireValue::Varint(300)))));
        assert_eq!(r.next_field(), Ok(Some((2, WireValue::Fixed64(1)))));
        assert_eq!(r.next_field(), Ok(Some((3, WireValue::Bytes(b"hi")))));
        assert_eq!(r.next_field(), Ok(Some((4, WireValue::Fixed32(7)))));
        assert_eq!(r.next_field(), Ok(None));
    }

    #[test]
    fn rejects_bad_input() {
        let cases: [&[u8]; 6] = [
            &[0x08],                                                                   // varint value missing
            &[0x08, 0x80],                                                             // varint cut short
            &[0x0a, 5, b'a'],                                                          // length beyond the end
            &[0x0b],                                                                   // group start (wire type 3)
            &[0x00],                                                                   // field number 0
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 11-byte varint
        ];
        for buf in cases {
            assert!(Reader::new(buf).next_field().is_err(), "{buf:?}");
        }
    }
}
