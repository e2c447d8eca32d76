# MMDeploy 1.x deploy config: an mmseg segmentor to ONNX Runtime, batch, height and width
# dynamic. MMDeploy's own mmseg/segmentation_onnxruntime_dynamic.py in one file (its PyPI wheel
# ships no configs), at opset 13: the RGA relation path reshapes with aten::unflatten, which
# torch.onnx exports from opset 13 (MMDeploy's mmseg configs say 11).
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=13,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=True,
    dynamic_axes={
        'input': {0: 'batch', 2: 'height', 3: 'width'},
        'output': {0: 'batch', 2: 'height', 3: 'width'},
    })
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
backend_config = dict(type='onnxruntime')
