//! Field paths as Kubernetes' strict decoders print them:
//! `spec.template.spec.containers[0].imagee`, `metadata.labelz`.

use std::fmt;

/// One step of a path.
#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

/// A path from the document root, built on the stack as a walk descends.
#[derive(Debug, Clone, Copy)]
pub struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

impl<'a> Path<'a> {
    /// The document root (prints as nothing).
    pub const ROOT: Path<'static> = Path {
        parent: None,
        step: Step::Root,
    };

    /// The path of an object member.
    pub fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    /// The path of an array element.
    pub fn index<'b>(&'b self, i: usize) -> Path<'b> {
        Path {
            parent: Some(self),
            step: Step::Index(i),
        }
    }

    fn is_root(&self) -> bool {
        matches!(self.step, Step::Root)
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            p.fmt(f)?;
        }
        match self.step {
            Step::Root => Ok(()),
            Step::Key(k) if self.parent.is_none_or(Path::is_root) => f.write_str(k),
            Step::Key(k) => write!(f, ".{k}"),
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_kubernetes() {
        let root = Path::ROOT;
        let spec = root.key("spec");
        assert_eq!(spec.key("replica").to_string(), "spec.replica");
        let t = spec.key("template");
        let s = t.key("spec");
        let c = s.key("containers");
        let c0 = c.index(0);
        assert_eq!(c0.key("imagee").to_string(), "spec.template.spec.containers[0].imagee");
        assert_eq!(root.index(2).key("op").to_string(), "[2].op");
        assert_eq!(root.to_string(), "");
        assert_eq!(root.key("metadata").key("labelz").to_string(), "metadata.labelz");
    }
}
