//! [`Few`]: a short list held inline (a replica's one or two addresses are in the replica
//! itself, not behind a pointer: an answer reads them without another cache miss), on the heap
//! only beyond `N`.

/// An item type with a value for the unused inline slots.
pub trait Blank: Copy {
    /// The filler.
    const BLANK: Self;
}

impl Blank for std::net::Ipv4Addr {
    const BLANK: Self = std::net::Ipv4Addr::UNSPECIFIED;
}

impl Blank for std::net::Ipv6Addr {
    const BLANK: Self = std::net::Ipv6Addr::UNSPECIFIED;
}

impl Blank for u32 {
    const BLANK: Self = 0;
}

/// Up to `N` items inline, more on the heap; reads as a slice.
#[derive(Clone)]
pub enum Few<T: Blank, const N: usize> {
    /// `len` items in `items`.
    Inline {
        /// How many of `items` are in use.
        len: u8,
        /// The items.
        items: [T; N],
    },
    /// More than `N`.
    Heap(Vec<T>),
}

impl<T: Blank, const N: usize> Few<T, N> {
    /// Appends an item.
    pub fn push(&mut self, item: T) {
        match self {
            Few::Inline { len, items } if (*len as usize) < N => {
                items[*len as usize] = item;
                *len += 1;
            }
            Few::Inline { len, items } => {
                let mut all = items[..*len as usize].to_vec();
                all.push(item);
                *self = Few::Heap(all);
            }
            Few::Heap(all) => all.push(item),
        }
    }
}

impl<T: Blank, const N: usize> Default for Few<T, N> {
    fn default() -> Self {
        Few::Inline {
            len: 0,
            items: [T::BLANK; N],
        }
    }
}

impl<T: Blank, const N: usize> std::ops::Deref for Few<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Few::Inline { len, items } => &items[..*len as usize],
            Few::Heap(all) => all,
        }
    }
}

impl<'a, T: Blank, const N: usize> IntoIterator for &'a Few<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<T: Blank + PartialEq, const N: usize> PartialEq for Few<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Blank + Eq, const N: usize> Eq for Few<T, N> {}

impl<T: Blank + std::fmt::Debug, const N: usize> std::fmt::Debug for Few<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    #[test]
    fn inline_then_heap_reads_as_the_same_list() {
        let mut few: Few<u32, 2> = Few::default();
        assert!(few.is_empty());
        for i in 0..5 {
            few.push(i);
            assert_eq!(&few[..], &(0..=i).collect::<Vec<_>>()[..]);
            assert_eq!(matches!(few, Few::Inline { .. }), i < 2);
        }
        let mut other: Few<u32, 2> = Few::default();
        (0..5).for_each(|i| other.push(i));
        assert_eq!(few, other);
        assert_eq!(format!("{few:?}"), "[0, 1, 2, 3, 4]");
    }
}
