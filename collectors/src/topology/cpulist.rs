//! Processor lists in the kernel's list syntax (`0-3,8`), as in `/proc/self/status`
//! (`Cpus_allowed_list`), `taskset -c` and Slurm.

/// `[0, 1, 2, 3, 8]` as `0-3,8`; an empty list as an empty string. The input need not be sorted.
pub fn format_list(items: &[u32]) -> String {
    let mut sorted = items.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// `0-3,8` as `[0, 1, 2, 3, 8]` (sorted, without repeats); `None` when the text is not a list.
pub fn parse_list(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
                if a > b {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().ok()?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_collapse_and_read_back() {
        for (list, text) in [
            (vec![], ""),
            (vec![5], "5"),
            (vec![0, 1, 2, 3, 8], "0-3,8"),
            (vec![0, 2, 4], "0,2,4"),
            (vec![7, 6, 1, 0, 1], "0-1,6-7"),
        ] {
            assert_eq!(format_list(&list), text);
            let mut want = list.clone();
            want.sort_unstable();
            want.dedup();
            assert_eq!(parse_list(text), Some(want));
        }
    }

    #[test]
    fn garbage_is_not_a_list() {
        for bad in ["a", "1-", "3-1", "1,,2", "-1"] {
            assert_eq!(parse_list(bad), None, "{bad}");
        }
    }
}
