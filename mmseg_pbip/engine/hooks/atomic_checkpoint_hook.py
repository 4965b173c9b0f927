"""Checkpoints that are never half-written, and never lost before a new one
exists."""
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend
from mmengine.hooks import CheckpointHook
from mmseg.registry import HOOKS

from ...utils import atomic_path


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` that survives being killed.

    MMEngine writes ``iter_N.pth`` in place, writes ``last_checkpoint`` in
    place, and removes the oldest kept checkpoint *before* saving the new
    one. A process killed while saving can therefore leave a truncated
    checkpoint and, with ``max_keep_ckpts=1``, no checkpoint at all. Here,
    on a local disk:

    1. the checkpoint is written to ``.tmp-iter_N.pth``, flushed and renamed
       to ``iter_N.pth`` (a rename is atomic);
    2. ``last_checkpoint`` (what ``--resume`` reads) is replaced the same
       way, only after step 1;
    3. only then are checkpoints beyond ``max_keep_ckpts`` removed.

    A kill at any point leaves ``last_checkpoint`` naming a complete file.
    Other storage backends fall back to MMEngine's behaviour. Arguments are
    those of :class:`~mmengine.hooks.CheckpointHook`.

    MMEngine offers no public way to do this (a file backend sees neither
    the ``last_checkpoint`` write nor the removal order), so the private
    method is replaced; ``tests/test_mmengine_overrides.py`` pins it to the
    MMEngine version it was written against.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not isinstance(self.file_backend, LocalBackend):
            return super()._save_checkpoint_with_step(runner, step, meta)
        stale = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            while len(self.keep_ckpt_ids) >= self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        if not is_main_process():  # Runner.save_checkpoint is rank 0's
            return
        with atomic_path(self.last_ckpt, durable=True) as tmp:
            runner.save_checkpoint(
                self.out_dir,
                osp.basename(tmp),
                self.file_client_args,
                save_optimizer=self.save_optimizer,
                save_param_scheduler=self.save_param_scheduler,
                meta=meta,
                by_epoch=self.by_epoch,
                backend_args=self.backend_args,
                **self.args)
        with atomic_path(
                osp.join(runner.work_dir, 'last_checkpoint'),
                durable=True) as tmp, open(tmp, 'w') as f:
            f.write(self.last_ckpt)
        for old in stale:
            path = osp.join(self.out_dir, self.filename_tmpl.format(old))
            if osp.isfile(path):
                os.remove(path)
