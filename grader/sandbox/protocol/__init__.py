"""The wire protocol between the trusted side and the student process, in one place.

- :mod:`.frames`: a frame is a JSON header plus raw byte blobs, length-prefixed and size-capped; tensors travel as
  dtype, shape and bytes; nothing is ever pickled.
- the message kinds below: what each side sends, in order.
- :mod:`.arguments`: a check's arguments as data (encoded on the trusted side, built in the student process).
- :mod:`.results`: what a call produced as data (encoded in the student process, decoded and validated on the
  trusted side).

Both ends use it: :mod:`grader.engine.student` and :mod:`grader.sandbox.process` on the trusted side,
:mod:`grader.sandbox.child` in the student process. May import: torch, numpy.
"""

#: Student process -> trusted side, before any student code runs: the sandbox layers it applied (believed).
SANDBOXED = "sandboxed"
#: Student process -> trusted side: a layer could not be applied; the process never runs student code.
SANDBOX_FAILED = "sandbox_failed"
#: Student process -> trusted side: the module was imported (``ok``, the ``missing`` functions) or why not; with
#: ``course_error``, the course's ``objects.py`` could not be loaded and the module was not imported at all.
READY = "ready"
#: Trusted side -> student process: call a function (``fn``, ``args``, ``keep``, ``self``, ``no_grad``, ``seed``,
#: ``backward``); the reply carries ``result``, ``inputs`` and ``backward_error``, or ``error``.
CALL = "call"
#: Trusted side -> student process: describe a kept object (``name``) as data.
DESCRIBE = "describe"
