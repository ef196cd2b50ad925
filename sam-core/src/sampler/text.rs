//! The text form of a [`Sampler`]: `gaussian`, `sphere`,
//! `reference-sphere`, `rademacher`, `cube:<half width>`. Configuration
//! files and command lines write a sampler this way, and serde uses it.

use core::fmt;
use core::str::FromStr;

use super::Sampler;
use crate::error::SamError;

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Sampler::Gaussian => f.write_str("gaussian"),
            Sampler::Sphere => f.write_str("sphere"),
            Sampler::ReferenceSphere => f.write_str("reference-sphere"),
            Sampler::Cube { half_width } => write!(f, "cube:{half_width}"),
            Sampler::Rademacher => f.write_str("rademacher"),
        }
    }
}

impl FromStr for Sampler {
    type Err = SamError;

    /// Case-insensitive; `normal` is taken for `gaussian`. The sampler is
    /// validated (a cube's half width must be in range).
    fn from_str(s: &str) -> Result<Self, SamError> {
        let lower = s.trim().to_ascii_lowercase();
        let sampler = match lower.as_str() {
            "gaussian" | "normal" => Sampler::Gaussian,
            "sphere" => Sampler::Sphere,
            "reference-sphere" => Sampler::ReferenceSphere,
            "rademacher" => Sampler::Rademacher,
            other => match other.strip_prefix("cube:").map(|w| w.trim().parse::<f64>()) {
                Some(Ok(half_width)) => Sampler::Cube { half_width },
                _ => {
                    return Err(SamError::invalid(
                        "sampler",
                        format!(
                            "`{s}`: expected gaussian, sphere, reference-sphere, rademacher or cube:<half width>"
                        ),
                    ));
                }
            },
        };
        sampler.validate()?;
        Ok(sampler)
    }
}

impl serde::Serialize for Sampler {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sampler {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde::de::value::{Error, StrDeserializer};

    #[test]
    fn every_sampler_round_trips_through_its_text() {
        for s in [
            Sampler::Gaussian,
            Sampler::Sphere,
            Sampler::ReferenceSphere,
            Sampler::Rademacher,
            Sampler::Cube { half_width: 0.01 },
            Sampler::Cube { half_width: 2.5 },
        ] {
            let text = s.to_string();
            assert_eq!(text.parse::<Sampler>(), Ok(s));
            let de = StrDeserializer::<Error>::new(&text);
            assert_eq!(Sampler::deserialize(de), Ok(s));
        }
        assert_eq!(" Normal ".parse::<Sampler>(), Ok(Sampler::Gaussian));
        for bad in ["cube:0", "cube:-1", "cube:x", "hypercube", ""] {
            assert!(bad.parse::<Sampler>().is_err(), "{bad}");
            assert!(Sampler::deserialize(StrDeserializer::<Error>::new(bad)).is_err());
        }
    }
}
