/// A value kept behind one reference and copied only when written while shared.
///
/// For the big records the run path hands along (a run from the runner to the writer's buffer,
/// the observers and the store; a job's definition to its ticks and its observer): copied
/// field by field, a copy was a retain and a release for each of some twenty fields, about
/// 9,000 instructions a check in all (callgrind, BENCHMARKS.md); behind one reference it is one.
struct CopyOnWrite<Value: Sendable>: @unchecked Sendable {
    // Unchecked: the box is written only while this value holds the one reference to it.
    private final class Box {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box

    init(_ value: Value) {
        box = Box(value)
    }

    var value: Value {
        _read { yield box.value }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.value) }
            yield &box.value
        }
    }
}

extension CopyOnWrite: Equatable where Value: Equatable {
    static func == (left: Self, right: Self) -> Bool {
        left.box === right.box || left.box.value == right.box.value
    }
}

extension CopyOnWrite: Hashable where Value: Hashable {
    func hash(into hasher: inout Hasher) {
        box.value.hash(into: &hasher)
    }
}
