//! Little-endian encoding of requests and seeds for the dealer's wire messages.

use crate::DealerError;

/// Appends fields to a message.
#[derive(Debug, Default)]
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn usize(&mut self, v: usize) {
        self.u64(v as u64);
    }

    pub(crate) fn shape(&mut self, shape: &[usize]) {
        self.usize(shape.len());
        for &d in shape {
            self.usize(d);
        }
    }

    pub(crate) fn pair(&mut self, p: (usize, usize)) {
        self.usize(p.0);
        self.usize(p.1);
    }

    /// A length, then the bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.usize(b.len());
        self.0.extend_from_slice(b);
    }
}

/// Reads fields back, failing with [`DealerError::Malformed`] on truncated input.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    peer: usize,
}

/// Dimensions a shape on the wire may have: anything longer is garbage.
const MAX_NDIM: u64 = 16;

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], peer: usize) -> Self {
        Self { data, peer }
    }

    pub(crate) fn malformed(&self, reason: impl Into<String>) -> DealerError {
        DealerError::Malformed { peer: self.peer, reason: reason.into() }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DealerError> {
        let (&first, rest) = self.data.split_first().ok_or_else(|| self.malformed("truncated"))?;
        self.data = rest;
        Ok(first)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DealerError> {
        if self.data.len() < 8 {
            return Err(self.malformed("truncated"));
        }
        let (head, rest) = self.data.split_at(8);
        self.data = rest;
        let mut b = [0u8; 8];
        b.copy_from_slice(head);
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn usize(&mut self) -> Result<usize, DealerError> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| self.malformed(format!("{v} does not fit usize")))
    }

    pub(crate) fn shape(&mut self) -> Result<Vec<usize>, DealerError> {
        let ndim = self.u64()?;
        if ndim > MAX_NDIM {
            return Err(self.malformed(format!("shape with {ndim} dimensions")));
        }
        (0..ndim).map(|_| self.usize()).collect()
    }

    pub(crate) fn pair(&mut self) -> Result<(usize, usize), DealerError> {
        Ok((self.usize()?, self.usize()?))
    }

    /// What [`Writer::bytes`] wrote, refusing a length over `max` before taking anything.
    pub(crate) fn bytes(&mut self, max: usize, what: &str) -> Result<&'a [u8], DealerError> {
        let len = self.u64()?;
        if len > max as u64 {
            return Err(self.malformed(format!("{what} of {len} bytes (at most {max})")));
        }
        let len = len as usize;
        if self.data.len() < len {
            return Err(self.malformed("truncated"));
        }
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        Ok(head)
    }

    pub(crate) fn finish(self) -> Result<(), DealerError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(self.malformed(format!("{} trailing bytes", self.data.len())))
        }
    }
}
