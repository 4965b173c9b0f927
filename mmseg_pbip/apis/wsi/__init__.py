from .exporters import (label_polygons, write_area_table, write_geojson,
                        write_label_tiff, write_overview)
from .inference import TileScorer, infer_slide, load_segmentor
from .slide_reader import SlideError, SlideReader
from .tiling import SlideGrid, blend_window, make_grid, tissue_tiles
from .tissue_mask import tissue_mask

__all__ = [
    'SlideReader', 'SlideError', 'SlideGrid', 'make_grid', 'tissue_tiles',
    'blend_window', 'tissue_mask', 'TileScorer', 'infer_slide',
    'load_segmentor', 'label_polygons', 'write_area_table', 'write_geojson',
    'write_label_tiff', 'write_overview'
]
